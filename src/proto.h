/*
 * The persh wire protocol, version 1: every conversation between a persh
 * client and the daemon (over the control socket, or inside an SSH channel).
 *
 * A frame is an 8-byte header and a payload:
 *
 *   0      2      4              8
 *   | type | zero | payload length | payload ...
 *
 * All integers are big-endian and fixed-width. A receiver checks the length
 * against PROTO_MAX_PAYLOAD before it allocates or waits for the payload,
 * and drops the peer on an oversized length, a short payload for the type,
 * or a type it does not expect. Strings are a one-byte length and the bytes,
 * no terminator.
 *
 * The first frame each way is HELLO. A daemon that does not speak the
 * client's version answers ERROR(PROTO_E_VERSION) and closes.
 *
 * Output bytes of a session are numbered from 0 with a 64-bit offset that
 * never wraps; OUTPUT frames carry the offset of their first byte, and a
 * client resumes by sending the offset of the next byte it wants. When that
 * byte is no longer held (or the client is new, or its terminal has another
 * size), the daemon repaints the client's terminal with REDRAW frames from
 * its terminal emulator instead, then continues with live output.
 */
#ifndef PERSH_PROTO_H
#define PERSH_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x50525348u /* "PRSH" */
#define PROTO_VERSION 1
#define PROTO_HEADER_LEN 8
#define PROTO_MAX_DATA 65536
#define PROTO_MAX_PAYLOAD (PROTO_MAX_DATA + 64)
#define PROTO_MAX_TEXT 255

enum proto_type {
	/* both ways */
	PROTO_HELLO = 1,     /* magic u32, version u16, flags u16, hb_timeout_ms u32, pid u32 */
	PROTO_HEARTBEAT = 2, /* value u64 (reserved for acknowledgements, 0) */
	PROTO_ERROR = 3,     /* code u16, text str */
	/* client to daemon */
	PROTO_ATTACH = 10,    /* rows u16, cols u16, flags u32, offset u64, name str, term str */
	PROTO_INPUT = 11,     /* bytes */
	PROTO_RESIZE = 12,    /* rows u16, cols u16 */
	PROTO_DETACH = 13,    /* empty: detach me */
	PROTO_LIST = 14,      /* flags u32 */
	PROTO_KILL = 15,      /* name str */
	PROTO_DETACH_ALL = 16, /* name str: detach every client of a session */
	PROTO_GONE = 17,      /* reason u16 (enum proto_end): the client's own transport
	                         died (an SSH endpoint child saw its keepalives go
	                         unanswered); the daemon treats it as lost, not detached */
	/* daemon to client */
	PROTO_ATTACHED = 20, /* pid u32, rows u16, cols u16, offset u64, flags u32, name str */
	PROTO_OUTPUT = 21,   /* offset u64, bytes */
	PROTO_EXIT = 22,     /* status u32 (as a shell reports it: code, or 128+signal) */
	PROTO_DETACHED = 23, /* reason u16, text str */
	PROTO_SESSION = 24,  /* one row of a LIST answer, see struct proto_session */
	PROTO_OK = 25,       /* empty: the request succeeded (ends a LIST answer) */
	PROTO_REDRAW = 26,   /* bytes that repaint the client's terminal; outside the
	                        numbered output, so they carry no offset */
	PROTO_STATS = 27,    /* count u16, then count x (reason u16, total u64): how
	                        many clients and sessions ended for each reason */
};

/* ATTACH flags */
#define PROTO_ATTACH_CREATE 0x1u   /* create the session if missing */
#define PROTO_ATTACH_READONLY 0x2u /* input and resizes are ignored */
#define PROTO_ATTACH_RESUME 0x4u   /* offset is the next byte wanted */

/* ATTACHED flags: how the client is brought up to date before live output
 * (which starts at the ATTACHED offset). At most one of RESUMED, REPLAY,
 * REDRAW is set; none means live output only. */
#define PROTO_ATTACHED_CREATED 0x1u /* the session was created by this attach */
#define PROTO_ATTACHED_RESUMED 0x2u /* exact: output from the offset the client asked */
#define PROTO_ATTACHED_REPLAY 0x4u  /* output from the oldest byte the ring holds */
#define PROTO_ATTACHED_REDRAW 0x8u  /* REDRAW frames follow, then live output */

/* ERROR codes */
enum proto_error {
	PROTO_E_VERSION = 1,   /* unsupported protocol version */
	PROTO_E_MALFORMED = 2, /* a frame that does not parse */
	PROTO_E_NOSESSION = 3, /* no session of that name */
	PROTO_E_BADNAME = 4,   /* invalid session name */
	PROTO_E_LIMIT = 5,     /* max_sessions reached */
	PROTO_E_SELF = 6,      /* attaching a session from inside itself */
	PROTO_E_SPAWN = 7,     /* the shell could not be started */
	PROTO_E_PERM = 8,      /* peer not allowed (uid) */
	PROTO_E_STATE = 9,     /* request not valid in this state */
};

/* DETACHED reasons: why the daemon let go of an attached client. */
enum proto_reason {
	PROTO_R_REQUESTED = 1, /* the client asked (detach key) */
	PROTO_R_COMMAND = 2,   /* persh detach NAME */
	PROTO_R_SLOW = 3,      /* fell more than client_buffer behind */
	PROTO_R_STALLED = 4,   /* drained nothing for stall_timeout */
	PROTO_R_SHUTDOWN = 5,  /* the daemon is stopping */
};

/* Session states in a SESSION row. */
enum proto_state {
	PROTO_S_ATTACHED = 1,
	PROTO_S_DETACHED = 2, /* its last client detached on purpose */
	PROTO_S_EXITED = 3,
	PROTO_S_ORPHANED = 4, /* its last client was lost */
};

/* Why a client or a session ended: logged once and counted (STATS). */
enum proto_end {
	PROTO_END_DETACHED = 1,          /* client detached on purpose */
	PROTO_END_CLIENT_EOF = 2,        /* connection closed without a detach */
	PROTO_END_HEARTBEAT_TIMEOUT = 3, /* no frame for [heartbeat] timeout */
	PROTO_END_KEEPALIVE_TIMEOUT = 4, /* SSH keepalives unanswered */
	PROTO_END_TCP_ERROR = 5,         /* the connection failed (reset, timeout) */
	PROTO_END_TOO_SLOW = 6,          /* fell client_buffer behind */
	PROTO_END_STALLED = 7,           /* drained nothing for stall_timeout */
	PROTO_END_PROTOCOL_ERROR = 8,    /* sent something malformed */
	PROTO_END_SHUTDOWN = 9,          /* the daemon stopped */
	PROTO_END_EXITED = 10,           /* session: the shell exited by itself */
	PROTO_END_KILLED = 11,           /* session: persh kill */
	PROTO_END_ORPHAN_TIMEOUT = 12,   /* session: orphaned past orphan_timeout */
	PROTO_END_DETACHED_TIMEOUT = 13, /* session: detached past detached_timeout */
	PROTO_END_MAX = 14,
};

struct proto_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint32_t hb_timeout_ms;
	uint32_t pid;
};

struct proto_attach {
	uint16_t rows, cols;
	uint32_t flags;
	uint64_t offset;
	char name[PROTO_MAX_TEXT + 1];
	char term[PROTO_MAX_TEXT + 1];
};

struct proto_attached {
	uint32_t pid;
	uint16_t rows, cols;
	uint64_t offset;
	uint32_t flags;
	char name[PROTO_MAX_TEXT + 1];
};

struct proto_session {
	uint32_t pid;
	uint16_t rows, cols;
	uint16_t clients;
	uint8_t state;
	int32_t exit_status; /* -1 while running */
	int64_t created;     /* wall clock, seconds */
	int64_t idle_ms;     /* since the last output or input */
	int64_t left_ms;     /* until an orphaned/detached session is hung up, -1: never */
	char name[PROTO_MAX_TEXT + 1];
};

struct proto_text {
	uint16_t code; /* error code or detach reason */
	char text[PROTO_MAX_TEXT + 1];
};

/* Header: fill 8 bytes / parse them. Decode returns -1 on an oversized
 * length or a non-zero reserved field. */
void proto_header_encode(uint8_t *p, uint16_t type, uint32_t len);
int proto_header_decode(const uint8_t *p, uint16_t *type, uint32_t *len);

/* Payload encoders write into buf (at least PROTO_MAX_PAYLOAD - PROTO_MAX_DATA
 * bytes) and return the length. Decoders return 0, or -1 on a payload that
 * is short, long, or carries a bad string. */
size_t proto_hello_encode(uint8_t *buf, const struct proto_hello *m);
int proto_hello_decode(const uint8_t *p, size_t len, struct proto_hello *m);
size_t proto_attach_encode(uint8_t *buf, const struct proto_attach *m);
int proto_attach_decode(const uint8_t *p, size_t len, struct proto_attach *m);
size_t proto_attached_encode(uint8_t *buf, const struct proto_attached *m);
int proto_attached_decode(const uint8_t *p, size_t len, struct proto_attached *m);
size_t proto_session_encode(uint8_t *buf, const struct proto_session *m);
int proto_session_decode(const uint8_t *p, size_t len, struct proto_session *m);
size_t proto_text_encode(uint8_t *buf, uint16_t code, const char *text);
int proto_text_decode(const uint8_t *p, size_t len, struct proto_text *m);
/* A payload that is only a string (KILL, DETACH_ALL). */
size_t proto_name_encode(uint8_t *buf, const char *name);
int proto_name_decode(const uint8_t *p, size_t len, char *name, size_t cap);

const char *proto_error_text(uint16_t code);
const char *proto_reason_text(uint16_t reason);
const char *proto_state_text(uint8_t state);
const char *proto_end_text(uint16_t end);

#endif
