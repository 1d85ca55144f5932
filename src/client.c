/* The daemon's side of one connection on the control socket: a control
 * request (list, kill, detach) or a client attached to a session. */
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "session.h"
#include "stats.h"
#include "util.h"

struct client {
	struct peer *peer;
	pid_t pid;
	uid_t uid;
	unsigned id;
	char label[64];
	int hello;                /* HELLO seen */
	int was_attached;         /* its end is counted (control requests are not) */
	int done;                 /* closing: ignore further frames */
	struct session *session; /* NULL unless attached */
	struct event *hb_timer;
	int64_t last_rx;  /* monotonic ms of the last frame received */
	int64_t last_tx;  /* monotonic ms of our last heartbeat */
	int64_t hb_every; /* how often we send a heartbeat */
	TAILQ_ENTRY(client) entry;
};

static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
static unsigned next_id = 1;

static void client_frame(struct peer *, void *, uint16_t, const uint8_t *, uint32_t);
static void client_drain(struct peer *, void *);
static void client_error(struct peer *, void *, const char *);
static void client_heartbeat(void *);

static const struct peer_cbs client_cbs = {
	.frame = client_frame,
	.drain = client_drain,
	.error = client_error,
};

/* A new connection from a process of our uid (checked by the caller); via
 * names where it comes from when that is not a local process. */
struct client *
client_new(int fd, pid_t pid, uid_t uid, const char *via)
{
	struct client *c = xcalloc(1, sizeof *c);

	c->pid = pid;
	c->uid = uid;
	c->id = next_id++;
	if (via != NULL)
		snprintf(c->label, sizeof c->label, "client %u (%.40s)", c->id, via);
	else
		snprintf(c->label, sizeof c->label, "client %u (pid %d)", c->id, (int)pid);
	c->peer = peer_new(fd, &client_cbs, c);
	c->last_rx = c->last_tx = now_ms();
	c->hb_every = cfg->heartbeat_interval;
	c->hb_timer = loop_timer_new(client_heartbeat, c);
	loop_timer_set(c->hb_timer, c->hb_every);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	log_debug("%s: connected", c->label);
	return c;
}

/* Free a client's memory once no callback can reach it. */
static void
client_release(void *arg)
{
	struct client *c = arg;

	loop_event_free(c->hb_timer);
	free(c);
}

/* Close the connection (after trying to send what is queued) and forget
 * the client. It must already have left its session. */
static void
client_close(struct client *c, const char *reason)
{
	if (c->done)
		return;
	c->done = 1;
	log_debug("%s: closed: %s", c->label, reason);
	loop_timer_set(c->hb_timer, -1);
	TAILQ_REMOVE(&clients, c, entry);
	peer_free_flush(c->peer);
	c->peer = NULL;
	loop_defer(client_release, c);
}

/* The connection ended without a detach (end: enum proto_end): leave the
 * session as lost, which orphans it if c was its last client; count it. */
static void
client_drop(struct client *c, uint16_t end, const char *detail)
{
	if (c->done)
		return;
	if (c->session != NULL) {
		log_info("session %s: %s lost: %s%s%s", session_name(c->session), c->label,
		    proto_end_text(end), detail ? ": " : "", detail ? detail : "");
		session_leave(c->session, c, 1);
		c->session = NULL;
	}
	if (c->was_attached)
		stats_count(end);
	client_close(c, detail ? detail : proto_end_text(end));
}

/* Refuse a request: ERROR frame, and close when it is fatal. */
static void
client_fail(struct client *c, uint16_t code, const char *text, int fatal_error)
{
	peer_send_error(c->peer, code, text);
	if (fatal_error)
		client_drop(c, PROTO_END_PROTOCOL_ERROR, text);
}

/* Send our HELLO; heartbeats go at least three times per peer timeout. */
static void
client_hello(struct client *c, const uint8_t *p, uint32_t len)
{
	struct proto_hello h;
	uint8_t buf[32];
	int64_t want;

	if (proto_hello_decode(p, len, &h) == -1) {
		client_fail(c, PROTO_E_MALFORMED, "malformed hello", 1);
		return;
	}
	if (h.version != PROTO_VERSION) {
		char why[96];

		snprintf(why, sizeof why, "protocol version %u not supported (daemon speaks %u)",
		    h.version, PROTO_VERSION);
		log_warn("%s: %s", c->label, why);
		client_fail(c, PROTO_E_VERSION, why, 1);
		return;
	}
	c->hello = 1;
	want = h.hb_timeout_ms / 3;
	if (h.hb_timeout_ms > 0 && want < c->hb_every)
		c->hb_every = want > 50 ? want : 50;
	memset(&h, 0, sizeof h);
	h.magic = PROTO_MAGIC;
	h.version = PROTO_VERSION;
	h.hb_timeout_ms = (uint32_t)cfg->heartbeat_timeout;
	h.pid = (uint32_t)getpid();
	peer_send(c->peer, PROTO_HELLO, buf, proto_hello_encode(buf, &h), NULL, 0);
}

/* Send one LIST row per session. */
static void
client_list_one(struct session *s, void *arg)
{
	struct client *c = arg;
	struct proto_session row;
	uint8_t buf[64 + PROTO_MAX_TEXT];

	session_info(s, &row);
	peer_send(c->peer, PROTO_SESSION, buf, proto_session_encode(buf, &row), NULL, 0);
}

/* A name-only request (KILL, DETACH_ALL): the named session, or an error
 * already sent. */
static struct session *
client_named(struct client *c, const uint8_t *p, uint32_t len)
{
	char name[PROTO_MAX_TEXT + 1];
	struct session *s;

	if (proto_name_decode(p, len, name, sizeof name) == -1) {
		client_fail(c, PROTO_E_MALFORMED, "malformed request", 1);
		return NULL;
	}
	if (!name_valid(name, strlen(name))) {
		client_fail(c, PROTO_E_BADNAME, "invalid session name", 0);
		return NULL;
	}
	s = session_find(name);
	if (s == NULL) {
		char why[128];

		snprintf(why, sizeof why, "no session named '%.64s'", name);
		client_fail(c, PROTO_E_NOSESSION, why, 0);
	}
	return s;
}

/* ATTACH: find or create the session, then join it. */
static void
client_attach(struct client *c, const uint8_t *p, uint32_t len)
{
	struct proto_attach req;
	struct session *s;
	char why[256];

	if (c->session != NULL) {
		client_fail(c, PROTO_E_STATE, "already attached", 1);
		return;
	}
	if (proto_attach_decode(p, len, &req) == -1) {
		client_fail(c, PROTO_E_MALFORMED, "malformed attach", 1);
		return;
	}
	if (!name_valid(req.name, strlen(req.name))) {
		client_fail(c, PROTO_E_BADNAME,
		    "invalid session name (use 1-64 of A-Z a-z 0-9 . _ -)", 1);
		return;
	}
	s = session_find(req.name);
	if (s != NULL && c->pid > 0 && getsid(c->pid) == session_pid(s)) {
		snprintf(why, sizeof why, "refusing to attach session %.64s from inside itself",
		    req.name);
		client_fail(c, PROTO_E_SELF, why, 1);
		return;
	}
	if (s == NULL) {
		struct session_spec spec = { req.name, req.rows, req.cols, req.term };

		if (!(req.flags & PROTO_ATTACH_CREATE)) {
			snprintf(why, sizeof why, "no session named '%.64s'", req.name);
			client_fail(c, PROTO_E_NOSESSION, why, 1);
			return;
		}
		if (session_count() >= cfg->session_max_sessions) {
			snprintf(why, sizeof why, "too many sessions (max_sessions = %u)",
			    cfg->session_max_sessions);
			client_fail(c, PROTO_E_LIMIT, why, 1);
			return;
		}
		s = session_create(&spec, why, sizeof why);
		if (s == NULL) {
			log_error("session %s: %s", req.name, why);
			client_fail(c, PROTO_E_SPAWN, why, 1);
			return;
		}
	}
	c->session = s;
	c->was_attached = 1;
	session_attach(s, c, &req);
}

/* One frame from the connection. */
static void
client_frame(struct peer *p, void *arg, uint16_t type, const uint8_t *data, uint32_t len)
{
	struct client *c = arg;
	char why[64];

	(void)p;
	if (c->done)
		return;
	c->last_rx = now_ms();
	if (!c->hello && type != PROTO_HELLO) {
		snprintf(why, sizeof why, "frame type %u before hello", type);
		client_fail(c, PROTO_E_MALFORMED, why, 1);
		return;
	}
	switch (type) {
	case PROTO_HELLO:
		if (c->hello)
			client_fail(c, PROTO_E_MALFORMED, "second hello", 1);
		else
			client_hello(c, data, len);
		break;
	case PROTO_HEARTBEAT:
		break;
	case PROTO_ATTACH:
		client_attach(c, data, len);
		break;
	case PROTO_INPUT:
		if (c->session != NULL && session_input(c->session, c, data, len))
			peer_pause(c->peer, 1);
		break;
	case PROTO_RESIZE:
		if (len != 4) {
			client_fail(c, PROTO_E_MALFORMED, "malformed resize", 1);
			break;
		}
		if (c->session != NULL)
			session_resize(c->session, c, get16(data), get16(data + 2));
		break;
	case PROTO_DETACH:
		if (c->session != NULL) {
			struct session *s = c->session;

			c->session = NULL;
			session_leave(s, c, 0);
			stats_count(PROTO_END_DETACHED);
			client_detached(c, PROTO_R_REQUESTED);
		}
		break;
	case PROTO_EXIT_SEEN:
		if (c->session != NULL && session_exit_seen(c->session, c)) {
			c->session = NULL;
			stats_count(PROTO_END_DETACHED);
			client_close(c, "session exited");
		}
		break;
	case PROTO_GONE:
		/* An endpoint child saying its transport died: lost, not detached. */
		/* Only a transport's death: a client cannot count itself killed. */
		if (len != 2 || (get16(data) != PROTO_END_KEEPALIVE_TIMEOUT &&
				    get16(data) != PROTO_END_TCP_ERROR &&
				    get16(data) != PROTO_END_HEARTBEAT_TIMEOUT)) {
			client_fail(c, PROTO_E_MALFORMED, "malformed gone", 1);
			break;
		}
		client_drop(c, get16(data), NULL);
		break;
	case PROTO_LIST: {
		uint8_t stats[2 + 10 * PROTO_END_MAX];

		session_foreach(client_list_one, c);
		peer_send(c->peer, PROTO_STATS, stats, stats_encode(stats, sizeof stats), NULL, 0);
		peer_send(c->peer, PROTO_OK, NULL, 0, NULL, 0);
		break;
	}
	case PROTO_KILL: {
		struct session *s = client_named(c, data, len);

		if (s != NULL) {
			log_info("session %s: killed by %s", session_name(s), c->label);
			session_kill(s);
			peer_send(c->peer, PROTO_OK, NULL, 0, NULL, 0);
		}
		break;
	}
	case PROTO_DETACH_ALL: {
		struct session *s = client_named(c, data, len);

		if (s != NULL) {
			unsigned n = session_detach_all(s, PROTO_R_COMMAND);

			log_info("session %s: %u clients detached by %s", session_name(s), n,
			    c->label);
			peer_send(c->peer, PROTO_OK, NULL, 0, NULL, 0);
		}
		break;
	}
	default:
		snprintf(why, sizeof why, "unexpected frame type %u", type);
		log_warn("%s: %s", c->label, why);
		client_fail(c, PROTO_E_MALFORMED, why, 1);
		break;
	}
}

/* The socket took our output: pump more of the session. */
static void
client_drain(struct peer *p, void *arg)
{
	struct client *c = arg;

	(void)p;
	if (c->session != NULL)
		session_drained(c->session, c);
}

/* The connection is gone (EOF, error, bad header). */
static void
client_error(struct peer *p, void *arg, const char *reason)
{
	struct client *c = arg;

	(void)p;
	/* Every client here is on a Unix socket: a reset only means the process
	 * went away with bytes unread (a killed client), not a network error;
	 * TCP failures come from SSH children as GONE(tcp_error). */
	if (strcmp(reason, "eof") == 0 || strcmp(reason, strerror(ECONNRESET)) == 0) {
		client_drop(c, PROTO_END_CLIENT_EOF, NULL);
	} else if (strncmp(reason, "oversized", 9) == 0 || strncmp(reason, "malformed", 9) == 0) {
		log_warn("%s: %s", c->label, reason);
		client_drop(c, PROTO_END_PROTOCOL_ERROR, reason);
	} else {
		client_drop(c, PROTO_END_TCP_ERROR, reason);
	}
}

/* Drop a peer silent past the timeout; otherwise say we are alive. The
 * timer fires at the next heartbeat or at the deadline, whichever comes
 * first, so a dead peer is dropped within the timeout, not a tick later. */
static void
client_heartbeat(void *arg)
{
	struct client *c = arg;
	uint8_t zero[8] = { 0 };
	int64_t now = now_ms(), silent = now - c->last_rx, next = c->hb_every;

	if (silent >= cfg->heartbeat_timeout) {
		log_info("%s: heartbeat_timeout", c->label);
		client_drop(c, PROTO_END_HEARTBEAT_TIMEOUT, NULL);
		return;
	}
	if (cfg->heartbeat_timeout - silent < next)
		next = cfg->heartbeat_timeout - silent;
	if (now - c->last_tx >= c->hb_every) {
		peer_send(c->peer, PROTO_HEARTBEAT, zero, sizeof zero, NULL, 0);
		c->last_tx = now;
	} else if (c->hb_every - (now - c->last_tx) < next) {
		next = c->hb_every - (now - c->last_tx);
	}
	loop_timer_set(c->hb_timer, next > 1 ? next : 1);
}

/* ATTACHED, before any output. */
void
client_send_attached(struct client *c, const struct proto_attached *m)
{
	uint8_t buf[32 + PROTO_MAX_TEXT];

	peer_send(c->peer, PROTO_ATTACHED, buf, proto_attached_encode(buf, m), NULL, 0);
}

/* One run of output from offset off. */
int
client_send_output(struct client *c, uint64_t off, const uint8_t *buf, size_t len)
{
	uint8_t hdr[8];

	put64(hdr, off);
	return peer_send(c->peer, PROTO_OUTPUT, hdr, sizeof hdr, buf, len);
}

/* Output before off is skipped: c could not keep up (a REDRAW follows). */
void
client_send_skipped(struct client *c, uint64_t off)
{
	uint8_t buf[8];

	put64(buf, off);
	peer_send(c->peer, PROTO_SKIPPED, buf, sizeof buf, NULL, 0);
}

/* Bytes that repaint c's terminal (outside the numbered output). */
int
client_send_redraw(struct client *c, const uint8_t *buf, size_t len)
{
	return peer_send(c->peer, PROTO_REDRAW, NULL, 0, buf, len);
}

/* Bytes waiting in c's socket queue. */
size_t
client_queued(const struct client *c)
{
	return c->peer != NULL ? peer_queued(c->peer) : 0;
}

/* Bytes c's socket has taken so far: whether c is reading at all. */
uint64_t
client_written(const struct client *c)
{
	return c->peer != NULL ? peer_written(c->peer) : 0;
}

/* The session let go of c: tell it why and close. */
void
client_detached(struct client *c, uint16_t reason)
{
	uint8_t buf[2 + 1 + PROTO_MAX_TEXT];

	c->session = NULL;
	peer_send(c->peer, PROTO_DETACHED, buf, proto_text_encode(buf, reason, ""), NULL, 0);
	client_close(c, proto_reason_text(reason));
}

/* The session ended and c has all its output: send the status. */
void
client_send_exit(struct client *c, int status)
{
	uint8_t buf[4];

	put32(buf, (uint32_t)status);
	peer_send(c->peer, PROTO_EXIT, buf, sizeof buf, NULL, 0);
}

/* The session's input queue drained: read c again. */
void
client_input_resume(struct client *c)
{
	if (!c->done)
		peer_pause(c->peer, 0);
}

/* "client N (pid P)", for log lines. */
const char *
client_label(const struct client *c)
{
	return c->label;
}

/* Drop every connection (daemon exit; sessions already let go). */
void
client_shutdown(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_drop(c, PROTO_END_SHUTDOWN, NULL);
}
