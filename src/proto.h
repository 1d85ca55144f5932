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
	PROTO_EXIT_SEEN = 18, /* empty: the client has the session's EXIT status; until a
	                         client says so, an ended session is kept with it */
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
	PROTO_SKIPPED = 28,  /* offset u64: the client could not keep up with the
	                        output; what came before offset is skipped, and
	                        REDRAW frames follow that show the screen as of
	                        offset, where OUTPUT goes on */
};

/* ATTACH flags */
#define PROTO_ATTACH_CREATE 0x1u   /* create the session if missing */
#define PROTO_ATTACH_READONLY 0x2u /* input and resizes are ignored */
#define PROTO_ATTACH_RESUME 0x4u   /* offset is the next byte wanted */
#define PROTO_ATTACH_REPAINT 0x8u  /* after an exact resume, also send a REDRAW of the
                                      current screen (the client drew over it) */

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
	/* relay streams */
	PROTO_E_NOSTREAM = 10, /* no such stream (never was, expired, or the daemon restarted) */
	PROTO_E_AUTH = 11,     /* the resume proof is wrong */
	PROTO_E_TARGET = 12,   /* the relay could not reach (or lost) its target */
	PROTO_E_CLOSED = 13,   /* the stream was ended by the relay */
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
	PROTO_END_RESUME_WINDOW = 14,    /* relay stream: detached past [relay] resume_window */
	PROTO_END_TARGET_ERROR = 15,     /* relay stream: its target refused, failed or reset */
	PROTO_END_CLOSED = 16,           /* relay stream: both ends closed it (a normal end) */
	PROTO_END_RESUME_REFUSED = 17,   /* relay connection: unknown stream or wrong proof */
	PROTO_END_MAX = 18,
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

/*
 * The relay stream protocol, version 1: `persh proxy` (the client) and the
 * daemon's [relay] listener. Same 8-byte frame header, limits and ERROR
 * frame as above; its own types from 40, and its own version in RHELLO.
 *
 * New stream:
 *   C: RHELLO  magic "PRLY" u32, version u16, kind u16 = NEW, hb_timeout_ms u32,
 *              client X25519 public key (32)
 *   D: (makes an ephemeral X25519 key and a random 16-byte stream id,
 *      connects to its configured target -- the client cannot name one)
 *   D: RWELCOME stream id (16), server X25519 public key (32), hb_timeout_ms u32
 *   Both: secret = HMAC-SHA256(key = X25519 shared value,
 *                              "persh relay v1" || client_pub || server_pub || id)
 *   The secret never crosses the wire (see streamkey.h).
 *
 * Resume (a new connection for a stream whose link died):
 *   C: RHELLO  magic, version, kind = RESUME, hb_timeout_ms, stream id (16)
 *   D: RCHALLENGE 32 fresh random bytes
 *   C: RPROOF  HMAC-SHA256(secret, "persh resume" || id || challenge || offset) (32),
 *              offset u64 = bytes the client has received
 *   D: RRESUMED offset u64 = bytes the daemon has received, hb_timeout_ms u32
 *   An unknown id or a wrong proof is answered with ERROR (NOSTREAM, AUTH)
 *   and the connection is closed; the stream, if any, is not touched. A
 *   right proof takes the stream over from any link it still has.
 *
 * Then both ways, each side numbering the bytes it sends from 0 (offsets
 * follow from the order of RDATA, nothing carries them):
 *   RDATA      bytes (1 to PROTO_MAX_DATA)
 *   RACK       offset u64: every byte before it arrived (at least every
 *              64 KiB received, and with heartbeats); the sender frees them
 *   REOF       offset u64 = total bytes sent: the sender's source ended
 *              (a half-close); repeated after a resume
 *   RHEARTBEAT empty; a link silent past the receiver's [heartbeat] timeout
 *              is dead. Each side sends at least three per timeout the
 *              other announced.
 * After a resume, each side sends again every byte from the offset the
 * other reported. Unacknowledged bytes are held in a bounded buffer; when
 * it is full, the sender stops reading its source.
 */
#define PROTO_RELAY_MAGIC 0x50524c59u /* "PRLY" */
#define PROTO_RELAY_VERSION 1
#define PROTO_RELAY_KEY_LEN 32
#define PROTO_RELAY_ID_LEN 16

enum proto_relay_type {
	PROTO_RHELLO = 40,     /* client: see above */
	PROTO_RWELCOME = 41,   /* daemon: a new stream is ready */
	PROTO_RCHALLENGE = 42, /* daemon: challenge (32) */
	PROTO_RPROOF = 43,     /* client: proof (32), offset u64 */
	PROTO_RRESUMED = 44,   /* daemon: offset u64, hb_timeout_ms u32 */
	PROTO_RDATA = 45,      /* both: bytes */
	PROTO_RACK = 46,       /* both: offset u64 */
	PROTO_REOF = 47,       /* both: offset u64 */
	PROTO_RHEARTBEAT = 48, /* both: empty */
};

enum proto_relay_kind {
	PROTO_RELAY_NEW = 1,
	PROTO_RELAY_RESUME = 2,
};

struct proto_rhello {
	uint32_t magic;
	uint16_t version;
	uint16_t kind;
	uint32_t hb_timeout_ms;
	uint8_t key[PROTO_RELAY_KEY_LEN]; /* NEW: the client's public key */
	uint8_t id[PROTO_RELAY_ID_LEN];   /* RESUME: the stream */
};

struct proto_rwelcome {
	uint8_t id[PROTO_RELAY_ID_LEN];
	uint8_t key[PROTO_RELAY_KEY_LEN]; /* the daemon's public key */
	uint32_t hb_timeout_ms;
};

struct proto_rproof {
	uint8_t proof[PROTO_RELAY_KEY_LEN];
	uint64_t offset;
};

struct proto_rresumed {
	uint64_t offset;
	uint32_t hb_timeout_ms;
};

/* RHELLO. Decoding stops after the version when it is not ours, so that a
 * later version is told so whatever its shape: check version first. */
size_t proto_rhello_encode(uint8_t *buf, const struct proto_rhello *m);
int proto_rhello_decode(const uint8_t *p, size_t len, struct proto_rhello *m);
size_t proto_rwelcome_encode(uint8_t *buf, const struct proto_rwelcome *m);
int proto_rwelcome_decode(const uint8_t *p, size_t len, struct proto_rwelcome *m);
size_t proto_rproof_encode(uint8_t *buf, const struct proto_rproof *m);
int proto_rproof_decode(const uint8_t *p, size_t len, struct proto_rproof *m);
size_t proto_rresumed_encode(uint8_t *buf, const struct proto_rresumed *m);
int proto_rresumed_decode(const uint8_t *p, size_t len, struct proto_rresumed *m);
/* RCHALLENGE: exactly PROTO_RELAY_KEY_LEN bytes. */
int proto_rchallenge_decode(const uint8_t *p, size_t len, uint8_t *challenge);
/* RACK and REOF: one offset. */
size_t proto_offset_encode(uint8_t *buf, uint64_t off);
int proto_offset_decode(const uint8_t *p, size_t len, uint64_t *off);

const char *proto_error_text(uint16_t code);
const char *proto_reason_text(uint16_t reason);
const char *proto_state_text(uint8_t state);
const char *proto_end_text(uint16_t end);

#endif
