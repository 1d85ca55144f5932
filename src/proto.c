/* Encoding and decoding of the persh wire protocol (see proto.h). */
#include "proto.h"

#include <string.h>

#include "util.h"

/* Fill a frame header. */
void
proto_header_encode(uint8_t *p, uint16_t type, uint32_t len)
{
	put16(p, type);
	put16(p + 2, 0);
	put32(p + 4, len);
}

/* Parse a frame header; -1 before anything is allocated for a bad one. */
int
proto_header_decode(const uint8_t *p, uint16_t *type, uint32_t *len)
{
	*type = get16(p);
	*len = get32(p + 4);
	if (get16(p + 2) != 0 || *len > PROTO_MAX_PAYLOAD)
		return -1;
	return 0;
}

/* Append a one-byte-length string; returns bytes written. */
static size_t
put_str(uint8_t *p, const char *s)
{
	size_t n = strnlen(s, PROTO_MAX_TEXT);

	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return n + 1;
}

/* Read a string at *off; -1 if it runs past len or holds a NUL. */
static int
get_str(const uint8_t *p, size_t len, size_t *off, char *out, size_t cap)
{
	size_t n;

	if (*off >= len)
		return -1;
	n = p[*off];
	if (n + 1 > len - *off || n + 1 > cap || memchr(p + *off + 1, '\0', n) != NULL)
		return -1;
	memcpy(out, p + *off + 1, n);
	out[n] = '\0';
	*off += n + 1;
	return 0;
}

/* HELLO: 16 fixed bytes. */
size_t
proto_hello_encode(uint8_t *buf, const struct proto_hello *m)
{
	put32(buf, m->magic);
	put16(buf + 4, m->version);
	put16(buf + 6, m->flags);
	put32(buf + 8, m->hb_timeout_ms);
	put32(buf + 12, m->pid);
	return 16;
}

/* HELLO from a peer; longer payloads are allowed so that later versions
 * can extend it and still be told their version is not spoken here. */
int
proto_hello_decode(const uint8_t *p, size_t len, struct proto_hello *m)
{
	if (len < 16)
		return -1;
	m->magic = get32(p);
	m->version = get16(p + 4);
	m->flags = get16(p + 6);
	m->hb_timeout_ms = get32(p + 8);
	m->pid = get32(p + 12);
	return m->magic == PROTO_MAGIC ? 0 : -1;
}

/* ATTACH: 16 fixed bytes, then name and term. */
size_t
proto_attach_encode(uint8_t *buf, const struct proto_attach *m)
{
	size_t off = 16;

	put16(buf, m->rows);
	put16(buf + 2, m->cols);
	put32(buf + 4, m->flags);
	put64(buf + 8, m->offset);
	off += put_str(buf + off, m->name);
	off += put_str(buf + off, m->term);
	return off;
}

/* ATTACH from a client; the name is validated by the caller. */
int
proto_attach_decode(const uint8_t *p, size_t len, struct proto_attach *m)
{
	size_t off = 16;

	if (len < 18)
		return -1;
	m->rows = get16(p);
	m->cols = get16(p + 2);
	m->flags = get32(p + 4);
	m->offset = get64(p + 8);
	if (get_str(p, len, &off, m->name, sizeof m->name) == -1 ||
	    get_str(p, len, &off, m->term, sizeof m->term) == -1 || off != len)
		return -1;
	return 0;
}

/* ATTACHED: 20 fixed bytes, then the session name. */
size_t
proto_attached_encode(uint8_t *buf, const struct proto_attached *m)
{
	put32(buf, m->pid);
	put16(buf + 4, m->rows);
	put16(buf + 6, m->cols);
	put64(buf + 8, m->offset);
	put32(buf + 16, m->flags);
	return 20 + put_str(buf + 20, m->name);
}

/* ATTACHED from the daemon. */
int
proto_attached_decode(const uint8_t *p, size_t len, struct proto_attached *m)
{
	size_t off = 20;

	if (len < 21)
		return -1;
	m->pid = get32(p);
	m->rows = get16(p + 4);
	m->cols = get16(p + 6);
	m->offset = get64(p + 8);
	m->flags = get32(p + 16);
	if (get_str(p, len, &off, m->name, sizeof m->name) == -1 || off != len)
		return -1;
	return 0;
}

/* SESSION: 40 fixed bytes, then the name. */
size_t
proto_session_encode(uint8_t *buf, const struct proto_session *m)
{
	put32(buf, m->pid);
	put16(buf + 4, m->rows);
	put16(buf + 6, m->cols);
	put16(buf + 8, m->clients);
	buf[10] = m->state;
	buf[11] = 0;
	put32(buf + 12, (uint32_t)m->exit_status);
	put64(buf + 16, (uint64_t)m->created);
	put64(buf + 24, (uint64_t)m->idle_ms);
	put64(buf + 32, (uint64_t)m->left_ms);
	return 40 + put_str(buf + 40, m->name);
}

/* SESSION row of a LIST answer. */
int
proto_session_decode(const uint8_t *p, size_t len, struct proto_session *m)
{
	size_t off = 40;

	if (len < 41)
		return -1;
	m->pid = get32(p);
	m->rows = get16(p + 4);
	m->cols = get16(p + 6);
	m->clients = get16(p + 8);
	m->state = p[10];
	m->exit_status = (int32_t)get32(p + 12);
	m->created = (int64_t)get64(p + 16);
	m->idle_ms = (int64_t)get64(p + 24);
	m->left_ms = (int64_t)get64(p + 32);
	if (get_str(p, len, &off, m->name, sizeof m->name) == -1 || off != len)
		return -1;
	return 0;
}

/* ERROR and DETACHED: a code and a line of text. */
size_t
proto_text_encode(uint8_t *buf, uint16_t code, const char *text)
{
	put16(buf, code);
	return 2 + put_str(buf + 2, text);
}

/* ERROR or DETACHED from a peer. */
int
proto_text_decode(const uint8_t *p, size_t len, struct proto_text *m)
{
	size_t off = 2;

	if (len < 3)
		return -1;
	m->code = get16(p);
	if (get_str(p, len, &off, m->text, sizeof m->text) == -1 || off != len)
		return -1;
	return 0;
}

/* KILL and DETACH_ALL: only a name. */
size_t
proto_name_encode(uint8_t *buf, const char *name)
{
	return put_str(buf, name);
}

/* A name-only payload; validity of the name is the caller's check. */
int
proto_name_decode(const uint8_t *p, size_t len, char *name, size_t cap)
{
	size_t off = 0;

	if (get_str(p, len, &off, name, cap) == -1 || off != len)
		return -1;
	return 0;
}

/* RHELLO: 12 fixed bytes, then the key (NEW) or the stream id (RESUME). */
size_t
proto_rhello_encode(uint8_t *buf, const struct proto_rhello *m)
{
	put32(buf, m->magic);
	put16(buf + 4, m->version);
	put16(buf + 6, m->kind);
	put32(buf + 8, m->hb_timeout_ms);
	if (m->kind == PROTO_RELAY_RESUME) {
		memcpy(buf + 12, m->id, PROTO_RELAY_ID_LEN);
		return 12 + PROTO_RELAY_ID_LEN;
	}
	memcpy(buf + 12, m->key, PROTO_RELAY_KEY_LEN);
	return 12 + PROTO_RELAY_KEY_LEN;
}

/* RHELLO from a client: exact sizes for our version, anything past the
 * version for another one (the caller refuses it by version). */
int
proto_rhello_decode(const uint8_t *p, size_t len, struct proto_rhello *m)
{
	memset(m, 0, sizeof *m);
	if (len < 6)
		return -1;
	m->magic = get32(p);
	m->version = get16(p + 4);
	if (m->magic != PROTO_RELAY_MAGIC)
		return -1;
	if (m->version != PROTO_RELAY_VERSION)
		return 0;
	if (len < 12)
		return -1;
	m->kind = get16(p + 6);
	m->hb_timeout_ms = get32(p + 8);
	if (m->kind == PROTO_RELAY_NEW && len == 12 + PROTO_RELAY_KEY_LEN)
		memcpy(m->key, p + 12, PROTO_RELAY_KEY_LEN);
	else if (m->kind == PROTO_RELAY_RESUME && len == 12 + PROTO_RELAY_ID_LEN)
		memcpy(m->id, p + 12, PROTO_RELAY_ID_LEN);
	else
		return -1;
	return 0;
}

/* RWELCOME: id, key, heartbeat timeout. */
size_t
proto_rwelcome_encode(uint8_t *buf, const struct proto_rwelcome *m)
{
	memcpy(buf, m->id, PROTO_RELAY_ID_LEN);
	memcpy(buf + PROTO_RELAY_ID_LEN, m->key, PROTO_RELAY_KEY_LEN);
	put32(buf + PROTO_RELAY_ID_LEN + PROTO_RELAY_KEY_LEN, m->hb_timeout_ms);
	return PROTO_RELAY_ID_LEN + PROTO_RELAY_KEY_LEN + 4;
}

/* RWELCOME from the daemon. */
int
proto_rwelcome_decode(const uint8_t *p, size_t len, struct proto_rwelcome *m)
{
	if (len != PROTO_RELAY_ID_LEN + PROTO_RELAY_KEY_LEN + 4)
		return -1;
	memcpy(m->id, p, PROTO_RELAY_ID_LEN);
	memcpy(m->key, p + PROTO_RELAY_ID_LEN, PROTO_RELAY_KEY_LEN);
	m->hb_timeout_ms = get32(p + PROTO_RELAY_ID_LEN + PROTO_RELAY_KEY_LEN);
	return 0;
}

/* RPROOF: proof, offset. */
size_t
proto_rproof_encode(uint8_t *buf, const struct proto_rproof *m)
{
	memcpy(buf, m->proof, PROTO_RELAY_KEY_LEN);
	put64(buf + PROTO_RELAY_KEY_LEN, m->offset);
	return PROTO_RELAY_KEY_LEN + 8;
}

/* RPROOF from a client. */
int
proto_rproof_decode(const uint8_t *p, size_t len, struct proto_rproof *m)
{
	if (len != PROTO_RELAY_KEY_LEN + 8)
		return -1;
	memcpy(m->proof, p, PROTO_RELAY_KEY_LEN);
	m->offset = get64(p + PROTO_RELAY_KEY_LEN);
	return 0;
}

/* RRESUMED: offset, heartbeat timeout. */
size_t
proto_rresumed_encode(uint8_t *buf, const struct proto_rresumed *m)
{
	put64(buf, m->offset);
	put32(buf + 8, m->hb_timeout_ms);
	return 12;
}

/* RRESUMED from the daemon. */
int
proto_rresumed_decode(const uint8_t *p, size_t len, struct proto_rresumed *m)
{
	if (len != 12)
		return -1;
	m->offset = get64(p);
	m->hb_timeout_ms = get32(p + 8);
	return 0;
}

/* RCHALLENGE from the daemon. */
int
proto_rchallenge_decode(const uint8_t *p, size_t len, uint8_t *challenge)
{
	if (len != PROTO_RELAY_KEY_LEN)
		return -1;
	memcpy(challenge, p, PROTO_RELAY_KEY_LEN);
	return 0;
}

/* RACK and REOF: one offset. */
size_t
proto_offset_encode(uint8_t *buf, uint64_t off)
{
	put64(buf, off);
	return 8;
}

/* An offset-only payload. */
int
proto_offset_decode(const uint8_t *p, size_t len, uint64_t *off)
{
	if (len != 8)
		return -1;
	*off = get64(p);
	return 0;
}

/* Words for an ERROR code, used when the text is empty. */
const char *
proto_error_text(uint16_t code)
{
	switch (code) {
	case PROTO_E_VERSION: return "unsupported protocol version";
	case PROTO_E_MALFORMED: return "malformed frame";
	case PROTO_E_NOSESSION: return "no such session";
	case PROTO_E_BADNAME: return "invalid session name";
	case PROTO_E_LIMIT: return "too many sessions";
	case PROTO_E_SELF: return "cannot attach a session from inside itself";
	case PROTO_E_SPAWN: return "shell could not be started";
	case PROTO_E_PERM: return "permission denied";
	case PROTO_E_STATE: return "not allowed now";
	case PROTO_E_NOSTREAM: return "no such stream";
	case PROTO_E_AUTH: return "resume refused: wrong proof";
	case PROTO_E_TARGET: return "the relay cannot reach its target";
	case PROTO_E_CLOSED: return "the relay ended the stream";
	}
	return "unknown error";
}

/* Words for a DETACHED reason; also the name logged and counted. */
const char *
proto_reason_text(uint16_t reason)
{
	switch (reason) {
	case PROTO_R_REQUESTED: return "detached";
	case PROTO_R_COMMAND: return "detached_by_command";
	case PROTO_R_SLOW: return "too_slow";
	case PROTO_R_STALLED: return "stalled";
	case PROTO_R_SHUTDOWN: return "daemon_shutdown";
	}
	return "unknown";
}

/* Words for a session state, as `persh ls` prints them. */
const char *
proto_state_text(uint8_t state)
{
	switch (state) {
	case PROTO_S_ATTACHED: return "attached";
	case PROTO_S_DETACHED: return "detached";
	case PROTO_S_EXITED: return "exited";
	case PROTO_S_ORPHANED: return "orphaned";
	}
	return "unknown";
}

/* The name of an end reason, as logged and as `ls --json` counts it. */
const char *
proto_end_text(uint16_t end)
{
	static const char *const names[PROTO_END_MAX] = {
		[PROTO_END_DETACHED] = "detached",
		[PROTO_END_CLIENT_EOF] = "client_eof",
		[PROTO_END_HEARTBEAT_TIMEOUT] = "heartbeat_timeout",
		[PROTO_END_KEEPALIVE_TIMEOUT] = "keepalive_timeout",
		[PROTO_END_TCP_ERROR] = "tcp_error",
		[PROTO_END_TOO_SLOW] = "too_slow",
		[PROTO_END_STALLED] = "stalled",
		[PROTO_END_PROTOCOL_ERROR] = "protocol_error",
		[PROTO_END_SHUTDOWN] = "shutdown",
		[PROTO_END_EXITED] = "exited",
		[PROTO_END_KILLED] = "killed",
		[PROTO_END_ORPHAN_TIMEOUT] = "orphan_timeout",
		[PROTO_END_DETACHED_TIMEOUT] = "detached_timeout",
		[PROTO_END_RESUME_WINDOW] = "resume_window",
		[PROTO_END_TARGET_ERROR] = "target_error",
		[PROTO_END_CLOSED] = "closed",
		[PROTO_END_RESUME_REFUSED] = "resume_refused",
	};

	return end > 0 && end < PROTO_END_MAX ? names[end] : "unknown";
}
