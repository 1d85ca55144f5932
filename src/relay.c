/* The relay: resumable streams for `persh proxy`, each connected to the one
 * target [relay] target names (never one a client chooses).
 *
 * A stream outlives its link. It owns the target connection, the bytes
 * sent to the client and not yet acknowledged (stream.c), and the bytes for
 * the target; a link (relay_conn) is only how the client reaches it for the
 * moment. When a link dies, the stream is kept for [relay] resume_window and
 * goes on reading the target until its buffer is full; a new link proves it
 * owns the stream (streamkey.c) and both sides replay what the other lacks.
 *
 * Nothing here blocks: the target connect is non-blocking, the link's
 * output is bounded (RELAY_QUEUE_MAX, refilled from the stream as it
 * drains), and the target's input queue is bounded (RELAY_SINK_MAX, past
 * which the link is not read). A connection that has not proved anything
 * yet allocates no stream and never touches a target. */
#include "relay.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "proto.h"
#include "stats.h"
#include "stream.h"
#include "streamkey.h"
#include "util.h"

/* Connections still in their handshake; more are refused. */
#define RELAY_MAX_PENDING 32
/* Bytes queued on a link before we stop moving more from the stream. */
#define RELAY_QUEUE_MAX (256 * 1024)
/* Bytes queued for the target before we stop reading the link. */
#define RELAY_SINK_MAX (1024 * 1024)

enum relay_state {
	RELAY_HELLO,      /* waiting for RHELLO */
	RELAY_CONNECTING, /* NEW: the target connect is under way */
	RELAY_PROOF,      /* RESUME: challenge sent, waiting for RPROOF */
	RELAY_LIVE,       /* attached to its stream */
};

struct relay_stream;

/* One connection from a client: a handshake, then a stream's link. */
struct relay_conn {
	struct peer *peer;
	char addr[64];
	enum relay_state state;
	uint8_t challenge[STREAMKEY_LEN];
	uint8_t id[STREAMKEY_ID_LEN]; /* PROOF: the stream asked for */
	struct relay_stream *rs;      /* CONNECTING and LIVE */
	struct event *timer;          /* the handshake deadline, then heartbeats */
	int64_t last_rx;
	int64_t hb_every;
	int paused;   /* not read: the target's queue is full */
	int eof_sent; /* our REOF went out on this link */
	int done;
	TAILQ_ENTRY(relay_conn) entry;
};

/* One stream: the target connection and both directions' bookkeeping. */
struct relay_stream {
	uint8_t id[STREAMKEY_ID_LEN];
	uint8_t secret[STREAMKEY_LEN];
	uint8_t pub[STREAMKEY_LEN]; /* ours, for RWELCOME */
	char label[48];
	struct stream *st;
	int fd;                  /* the target connection */
	struct event *rev, *wev; /* target readable; writable (or connected) */
	int connecting, reading, writing;
	int target_shut;      /* we shut down writing to the target */
	struct evbuffer *out; /* bytes for the target */
	struct relay_conn *conn; /* the link, NULL while detached */
	struct event *window;    /* resume window while detached */
	int64_t lost_at;         /* monotonic ms the link died, -1 if attached */
	int ended;
	TAILQ_ENTRY(relay_stream) entry;
};

static TAILQ_HEAD(, relay_stream) streams = TAILQ_HEAD_INITIALIZER(streams);
static TAILQ_HEAD(, relay_conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static unsigned nstreams, npending;
static int shutting_down; /* close links at once: the loop is about to end */
static struct listener *listener;
static struct sockaddr_storage target_sa;
static socklen_t target_len;
static char target_name[96];

static void relay_frame(struct peer *, void *, uint16_t, const uint8_t *, uint32_t);
static void relay_drain(struct peer *, void *);
static void relay_error(struct peer *, void *, const char *);
static void relay_conn_tick(void *);
static void relay_conn_close(struct relay_conn *);
static void relay_stream_end(struct relay_stream *, uint16_t, const char *);
static void relay_target_flush(struct relay_stream *);

static const struct peer_cbs relay_cbs = {
	.frame = relay_frame,
	.drain = relay_drain,
	.error = relay_error,
};

/* The first 4 bytes of a stream id in hex: enough to follow it in the log. */
static void
relay_id_text(const uint8_t *id, char *buf, size_t len)
{
	snprintf(buf, len, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
}

/* The stream with this id, or NULL. Every id is compared in constant time,
 * so the lookup says nothing about how close a guess was. */
static struct relay_stream *
relay_find(const uint8_t *id)
{
	struct relay_stream *rs, *found = NULL;

	TAILQ_FOREACH(rs, &streams, entry)
		if (streamkey_equal(rs->id, id, STREAMKEY_ID_LEN) && !rs->ended)
			found = rs;
	return found;
}

/*
 * The target side of a stream.
 */

/* Read the target while it is connected, open and the stream has room. */
static void
relay_target_update(struct relay_stream *rs)
{
	int want = !rs->ended && !rs->connecting && !stream_source_closed(rs->st) &&
	    stream_room(rs->st) > 0;

	if (want && !rs->reading)
		event_add(rs->rev, NULL);
	else if (!want && rs->reading)
		event_del(rs->rev);
	rs->reading = want;
}

/* Move stream bytes onto the link while its queue is short, then the REOF
 * once every byte has gone. */
static void
relay_pump(struct relay_stream *rs)
{
	struct relay_conn *c = rs->conn;
	uint8_t buf[8];
	const uint8_t *p;
	size_t n;

	if (c == NULL || c->state != RELAY_LIVE || c->done)
		return;
	while (peer_queued(c->peer) < RELAY_QUEUE_MAX && (p = stream_pending(rs->st, &n)) != NULL) {
		if (n > PROTO_MAX_DATA)
			n = PROTO_MAX_DATA;
		if (peer_send(c->peer, PROTO_RDATA, p, n, NULL, 0) == -1)
			return;
		stream_sent(rs->st, n);
	}
	if (stream_eof_due(rs->st) && !c->eof_sent) {
		peer_send(c->peer, PROTO_REOF, buf, proto_offset_encode(buf, stream_end(rs->st)),
		    NULL, 0);
		c->eof_sent = 1;
	}
}

/* A stream whose both ways are finished (the target's bytes all
 * acknowledged, the client's all written and the target told) ends. */
static void
relay_check_done(struct relay_stream *rs)
{
	if (!rs->ended && stream_done(rs->st) && rs->target_shut)
		relay_stream_end(rs, PROTO_END_CLOSED, NULL);
}

/* The target connect finished: answer the client. */
static void
relay_target_connected(struct relay_stream *rs)
{
	struct relay_conn *c = rs->conn;
	struct proto_rwelcome w;
	uint8_t buf[64];
	int err = 0, on = 1;
	socklen_t len = sizeof err;

	if (getsockopt(rs->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		char why[256];

		snprintf(why, sizeof why, "cannot connect to %s: %s", target_name, strerror(err));
		relay_stream_end(rs, PROTO_END_TARGET_ERROR, why);
		return;
	}
	setsockopt(rs->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	rs->connecting = 0;
	event_del(rs->wev);
	rs->writing = 0;
	memcpy(w.id, rs->id, sizeof w.id);
	memcpy(w.key, rs->pub, sizeof w.key);
	w.hb_timeout_ms = (uint32_t)cfg->heartbeat_timeout;
	peer_send(c->peer, PROTO_RWELCOME, buf, proto_rwelcome_encode(buf, &w), NULL, 0);
	c->state = RELAY_LIVE;
	npending--;
	c->last_rx = now_ms();
	loop_timer_set(c->timer, c->hb_every);
	log_info("%s: new stream from %s to %s", rs->label, c->addr, target_name);
	relay_target_update(rs);
}

/* The target can take bytes (or the connect finished). */
static void
relay_target_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_stream *rs = arg;

	(void)fd;
	(void)what;
	if (rs->connecting)
		relay_target_connected(rs);
	else
		relay_target_flush(rs);
}

/* Write what is queued for the target; once the client's REOF has been
 * written through, shut down writing. Resumes reading a link paused for a
 * full queue. */
static void
relay_target_flush(struct relay_stream *rs)
{
	struct relay_conn *c;
	int n;

	if (rs->ended || rs->connecting)
		return;
	if (evbuffer_get_length(rs->out) > 0) {
		n = evbuffer_write(rs->out, rs->fd);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			char why[256];

			snprintf(why, sizeof why, "writing to the target: %s", strerror(errno));
			relay_stream_end(rs, PROTO_END_TARGET_ERROR, why);
			return;
		}
	}
	if (evbuffer_get_length(rs->out) > 0 && !rs->writing) {
		event_add(rs->wev, NULL);
		rs->writing = 1;
	} else if (evbuffer_get_length(rs->out) == 0 && rs->writing) {
		event_del(rs->wev);
		rs->writing = 0;
	}
	if (evbuffer_get_length(rs->out) == 0 && stream_peer_closed(rs->st) && !rs->target_shut) {
		shutdown(rs->fd, SHUT_WR);
		rs->target_shut = 1;
		relay_check_done(rs);
		if (rs->ended)
			return;
	}
	c = rs->conn;
	if (c != NULL && c->paused && evbuffer_get_length(rs->out) < RELAY_SINK_MAX / 2) {
		c->paused = 0;
		c->last_rx = now_ms(); /* its silence while paused was ours */
		peer_pause(c->peer, 0); /* parses what it holds: may end anything */
	}
}

/* Bytes from the client for the target: written at once when nothing is
 * queued before them (no copy), the rest queued. */
static void
relay_target_write(struct relay_stream *rs, const uint8_t *p, size_t len)
{
	ssize_t n = 0;

	if (!rs->connecting && evbuffer_get_length(rs->out) == 0) {
		n = write(rs->fd, p, len);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			char why[256];

			snprintf(why, sizeof why, "writing to the target: %s", strerror(errno));
			relay_stream_end(rs, PROTO_END_TARGET_ERROR, why);
			return;
		}
		if (n < 0)
			n = 0;
	}
	if ((size_t)n < len)
		evbuffer_add(rs->out, p + n, len - (size_t)n);
}

/* Bytes (or the end) from the target. */
static void
relay_target_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_stream *rs = arg;
	uint8_t *p;
	size_t len;
	ssize_t n;

	(void)what;
	p = stream_reserve(rs->st, &len);
	if (p == NULL) {
		relay_target_update(rs);
		return;
	}
	n = read(fd, p, len);
	if (n < 0) {
		char why[256];

		if (errno == EAGAIN || errno == EINTR)
			return;
		snprintf(why, sizeof why, "reading from the target: %s", strerror(errno));
		relay_stream_end(rs, PROTO_END_TARGET_ERROR, why);
		return;
	}
	if (n == 0) {
		log_debug("%s: the target closed its side at %llu", rs->label,
		    (unsigned long long)stream_end(rs->st));
		stream_close_source(rs->st);
	} else
		stream_commit(rs->st, (size_t)n);
	relay_target_update(rs);
	relay_pump(rs);
	relay_check_done(rs);
}

/* Start the non-blocking connect to the target; -1 with errno. */
static int
relay_target_connect(struct relay_stream *rs)
{
	rs->fd = socket(target_sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (rs->fd == -1)
		return -1;
	if (connect(rs->fd, (struct sockaddr *)&target_sa, target_len) == -1 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close(rs->fd);
		rs->fd = -1;
		errno = e;
		return -1;
	}
	rs->connecting = 1;
	rs->rev = event_new(loop_base(), rs->fd, EV_READ | EV_PERSIST, relay_target_read_cb, rs);
	rs->wev = event_new(loop_base(), rs->fd, EV_WRITE | EV_PERSIST, relay_target_write_cb, rs);
	if (rs->rev == NULL || rs->wev == NULL)
		abort();
	event_add(rs->wev, NULL);
	rs->writing = 1;
	return 0;
}

/*
 * Streams.
 */

/* Free a stream once no callback can reach it. */
static void
relay_stream_release(void *arg)
{
	struct relay_stream *rs = arg;

	stream_free(rs->st);
	evbuffer_free(rs->out);
	loop_event_free(rs->window);
	streamkey_wipe(rs->secret, sizeof rs->secret);
	free(rs);
}

/* End a stream: log and count it once, tell an attached client (unless it
 * ended normally), close the target. */
static void
relay_stream_end(struct relay_stream *rs, uint16_t end, const char *detail)
{
	struct relay_conn *c = rs->conn;

	if (rs->ended)
		return;
	rs->ended = 1;
	log_info("%s: ended: %s%s%s", rs->label, proto_end_text(end), detail ? ": " : "",
	    detail ? detail : "");
	stats_count(end);
	if (c != NULL) {
		if (end == PROTO_END_TARGET_ERROR)
			peer_send_error(c->peer, PROTO_E_TARGET, detail ? detail : "target error");
		else if (end == PROTO_END_SHUTDOWN)
			peer_send_error(c->peer, PROTO_E_CLOSED, "the relay is shutting down");
		else if (end != PROTO_END_CLOSED)
			peer_send_error(c->peer, PROTO_E_CLOSED, proto_end_text(end));
		else
			relay_pump(rs); /* a last RACK or REOF may be owed */
		c->rs = NULL;
		rs->conn = NULL;
		relay_conn_close(c);
	}
	if (rs->rev != NULL)
		event_free(rs->rev);
	if (rs->wev != NULL)
		event_free(rs->wev);
	rs->rev = rs->wev = NULL;
	if (rs->fd != -1) {
		/* Best effort: the client's last bytes, if the target takes them now. */
		if (!rs->connecting && evbuffer_get_length(rs->out) > 0)
			(void)evbuffer_write(rs->out, rs->fd);
		close(rs->fd);
		rs->fd = -1;
	}
	loop_timer_set(rs->window, -1);
	TAILQ_REMOVE(&streams, rs, entry);
	nstreams--;
	loop_defer(relay_stream_release, rs);
}

/* The resume window passed with no link. */
static void
relay_stream_expired(void *arg)
{
	struct relay_stream *rs = arg;
	char why[64];

	snprintf(why, sizeof why, "no resume for %llds",
	    (long long)((now_ms() - rs->lost_at) / 1000));
	relay_stream_end(rs, PROTO_END_RESUME_WINDOW, why);
}

/* The link died: keep the stream for the resume window. */
static void
relay_stream_detach(struct relay_stream *rs, const char *why)
{
	char window[32];

	rs->conn = NULL;
	rs->lost_at = now_ms();
	config_format_duration(cfg->relay_resume_window, window, sizeof window);
	log_info("%s: link lost: %s; kept %s for a resume", rs->label, why, window);
	loop_timer_set(rs->window, cfg->relay_resume_window);
}

/* RHELLO NEW: make the keys and the stream, start the target connect. The
 * client hears back once the target answers. */
static void
relay_new(struct relay_conn *c, const struct proto_rhello *h)
{
	struct relay_stream *rs;
	uint8_t priv[STREAMKEY_LEN];
	char why[256], idtext[16];

	if (nstreams >= cfg->relay_max_streams) {
		snprintf(why, sizeof why, "too many streams (max_streams = %u)",
		    cfg->relay_max_streams);
		log_warn("relay %s: refused: %s", c->addr, why);
		peer_send_error(c->peer, PROTO_E_LIMIT, why);
		relay_conn_close(c);
		return;
	}
	rs = xcalloc(1, sizeof *rs);
	rs->fd = -1;
	rs->lost_at = -1;
	if (streamkey_random(rs->id, sizeof rs->id) == -1 ||
	    streamkey_keypair(priv, rs->pub) == -1 ||
	    streamkey_secret(priv, h->key, h->key, rs->pub, rs->id, rs->secret) == -1) {
		streamkey_wipe(priv, sizeof priv);
		free(rs);
		log_warn("relay %s: refused: key exchange failed", c->addr);
		peer_send_error(c->peer, PROTO_E_MALFORMED, "key exchange failed");
		relay_conn_close(c);
		return;
	}
	streamkey_wipe(priv, sizeof priv);
	relay_id_text(rs->id, idtext, sizeof idtext);
	snprintf(rs->label, sizeof rs->label, "relay stream %s", idtext);
	rs->st = stream_new((size_t)cfg->relay_buffer);
	rs->out = evbuffer_new();
	rs->window = loop_timer_new(relay_stream_expired, rs);
	if (rs->out == NULL)
		abort();
	TAILQ_INSERT_TAIL(&streams, rs, entry);
	nstreams++;
	rs->conn = c;
	c->rs = rs;
	c->state = RELAY_CONNECTING;
	if (relay_target_connect(rs) == -1) {
		snprintf(why, sizeof why, "cannot connect to %s: %s", target_name, strerror(errno));
		relay_stream_end(rs, PROTO_END_TARGET_ERROR, why);
		return;
	}
	log_debug("%s: from %s, connecting to %s", rs->label, c->addr, target_name);
}

/* RHELLO RESUME: a fresh challenge for a stream that exists. Nothing about
 * the stream changes until the proof checks out. */
static void
relay_resume(struct relay_conn *c, const struct proto_rhello *h)
{
	char idtext[16];

	relay_id_text(h->id, idtext, sizeof idtext);
	if (relay_find(h->id) == NULL) {
		log_warn("relay %s: resume refused: unknown stream %s", c->addr, idtext);
		stats_count(PROTO_END_RESUME_REFUSED);
		peer_send_error(c->peer, PROTO_E_NOSTREAM, "no such stream");
		relay_conn_close(c);
		return;
	}
	if (streamkey_random(c->challenge, sizeof c->challenge) == -1) {
		peer_send_error(c->peer, PROTO_E_CLOSED, "no randomness");
		relay_conn_close(c);
		return;
	}
	memcpy(c->id, h->id, sizeof c->id);
	c->state = RELAY_PROOF;
	peer_send(c->peer, PROTO_RCHALLENGE, c->challenge, sizeof c->challenge, NULL, 0);
}

/* RPROOF: check it in constant time; a right one takes the stream over. */
static void
relay_proof(struct relay_conn *c, const uint8_t *p, uint32_t len)
{
	struct relay_stream *rs;
	struct proto_rproof pr;
	struct proto_rresumed r;
	uint8_t buf[16];
	char idtext[16];
	int ok;

	relay_id_text(c->id, idtext, sizeof idtext);
	if (proto_rproof_decode(p, len, &pr) == -1) {
		log_warn("relay %s: resume refused: malformed proof for stream %s", c->addr, idtext);
		stats_count(PROTO_END_RESUME_REFUSED);
		peer_send_error(c->peer, PROTO_E_MALFORMED, "malformed proof");
		relay_conn_close(c);
		return;
	}
	rs = relay_find(c->id);
	ok = rs != NULL && streamkey_check(rs->secret, rs->id, c->challenge, pr.offset, pr.proof);
	/* One answer per challenge. */
	streamkey_wipe(c->challenge, sizeof c->challenge);
	if (!ok) {
		log_warn("relay %s: resume refused: %s for stream %s", c->addr,
		    rs == NULL ? "stream gone" : "wrong proof", idtext);
		stats_count(PROTO_END_RESUME_REFUSED);
		peer_send_error(c->peer, rs == NULL ? PROTO_E_NOSTREAM : PROTO_E_AUTH,
		    rs == NULL ? "no such stream" : "resume refused: wrong proof");
		relay_conn_close(c);
		return;
	}
	if (stream_rewind(rs->st, pr.offset) == -1) {
		log_warn("%s: resume from %s refused: offset %llu outside [%llu, %llu]", rs->label,
		    c->addr, (unsigned long long)pr.offset, (unsigned long long)stream_acked(rs->st),
		    (unsigned long long)stream_end(rs->st));
		peer_send_error(c->peer, PROTO_E_STATE, "resume offset out of range");
		relay_conn_close(c);
		return;
	}
	if (rs->conn != NULL) {
		struct relay_conn *old = rs->conn;

		log_info("%s: link from %s replaced by a resume from %s", rs->label, old->addr,
		    c->addr);
		old->rs = NULL;
		rs->conn = NULL;
		relay_conn_close(old);
	} else {
		log_info("%s: resumed from %s after %lld ms, replaying %llu bytes", rs->label,
		    c->addr, (long long)(now_ms() - rs->lost_at),
		    (unsigned long long)(stream_end(rs->st) - pr.offset));
	}
	loop_timer_set(rs->window, -1);
	rs->lost_at = -1;
	rs->conn = c;
	c->rs = rs;
	c->state = RELAY_LIVE;
	npending--;
	c->last_rx = now_ms();
	loop_timer_set(c->timer, c->hb_every);
	r.offset = stream_received(rs->st);
	r.hb_timeout_ms = (uint32_t)cfg->heartbeat_timeout;
	peer_send(c->peer, PROTO_RRESUMED, buf, proto_rresumed_encode(buf, &r), NULL, 0);
	if (evbuffer_get_length(rs->out) >= RELAY_SINK_MAX) {
		c->paused = 1;
		peer_pause(c->peer, 1);
	}
	relay_target_update(rs);
	relay_pump(rs);
}

/*
 * Connections.
 */

/* Free a connection once no callback can reach it. */
static void
relay_conn_release(void *arg)
{
	struct relay_conn *c = arg;

	loop_event_free(c->timer);
	free(c);
}

/* Close the connection after sending what is queued (an ERROR, a last
 * REOF). Its stream, if any, must already have let go of it. */
static void
relay_conn_close(struct relay_conn *c)
{
	if (c->done)
		return;
	c->done = 1;
	if (c->state != RELAY_LIVE)
		npending--;
	streamkey_wipe(c->challenge, sizeof c->challenge);
	loop_timer_set(c->timer, -1);
	TAILQ_REMOVE(&conns, c, entry);
	if (shutting_down)
		peer_free(c->peer);
	else
		peer_free_flush(c->peer);
	c->peer = NULL;
	loop_defer(relay_conn_release, c);
}

/* The link failed (why: EOF, an error, silence). A client that sent its
 * REOF and then closed has left for good; any other loss waits for a
 * resume. */
static void
relay_conn_lost(struct relay_conn *c, const char *why, int clean)
{
	struct relay_stream *rs = c->rs;

	if (c->done)
		return;
	if (rs == NULL) {
		log_debug("relay %s: closed during the handshake: %s", c->addr, why);
	} else if (c->state == RELAY_CONNECTING) {
		relay_stream_end(rs, PROTO_END_CLIENT_EOF, "the client left before the target answered");
		return; /* that closed c */
	} else if (clean && stream_peer_closed(rs->st)) {
		relay_stream_end(rs, PROTO_END_CLOSED, "the client closed its end");
		return;
	} else {
		char msg[160];

		snprintf(msg, sizeof msg, "%s (from %s)", why, c->addr);
		c->rs = NULL;
		relay_stream_detach(rs, msg);
	}
	relay_conn_close(c);
}

/* A frame the client should not have sent: on a live link, the stream's
 * client is broken, and the stream ends. */
static void
relay_protocol_error(struct relay_conn *c, const char *why)
{
	if (c->rs != NULL) {
		relay_stream_end(c->rs, PROTO_END_PROTOCOL_ERROR, why);
		return;
	}
	log_warn("relay %s: %s", c->addr, why);
	peer_send_error(c->peer, PROTO_E_MALFORMED, why);
	relay_conn_close(c);
}

/* RHELLO: check the version, then a new stream or a resume. */
static void
relay_hello(struct relay_conn *c, const uint8_t *p, uint32_t len)
{
	struct proto_rhello h;
	int64_t want;

	if (proto_rhello_decode(p, len, &h) == -1) {
		relay_protocol_error(c, "malformed relay hello");
		return;
	}
	if (h.version != PROTO_RELAY_VERSION) {
		char why[96];

		snprintf(why, sizeof why, "relay protocol version %u not supported (daemon speaks %u)",
		    h.version, PROTO_RELAY_VERSION);
		log_warn("relay %s: %s", c->addr, why);
		peer_send_error(c->peer, PROTO_E_VERSION, why);
		relay_conn_close(c);
		return;
	}
	want = h.hb_timeout_ms / 3;
	if (h.hb_timeout_ms > 0 && want < c->hb_every)
		c->hb_every = want > 50 ? want : 50;
	if (h.kind == PROTO_RELAY_NEW)
		relay_new(c, &h);
	else
		relay_resume(c, &h);
}

/* A frame on a live link. */
static void
relay_live(struct relay_conn *c, uint16_t type, const uint8_t *p, uint32_t len)
{
	struct relay_stream *rs = c->rs;
	uint8_t buf[8];
	uint64_t off;

	switch (type) {
	case PROTO_RDATA:
		if (len == 0 || stream_peer_closed(rs->st)) {
			relay_protocol_error(c, len == 0 ? "empty data" : "data after the end");
			return;
		}
		stream_receive(rs->st, len);
		relay_target_write(rs, p, len);
		if (rs->ended)
			return;
		if (stream_ack_due(rs->st))
			peer_send(c->peer, PROTO_RACK, buf,
			    proto_offset_encode(buf, stream_ack_take(rs->st)), NULL, 0);
		/* Write first, then pause on what is left: pausing first would let
		 * the write resume the link from inside its own frame callback. */
		if (!rs->writing)
			relay_target_flush(rs);
		if (!rs->ended && rs->conn == c && !c->paused &&
		    evbuffer_get_length(rs->out) >= RELAY_SINK_MAX) {
			c->paused = 1;
			peer_pause(c->peer, 1);
		}
		break;
	case PROTO_RACK:
		if (proto_offset_decode(p, len, &off) == -1 || stream_ack(rs->st, off) == -1) {
			relay_protocol_error(c, "bad acknowledgement");
			return;
		}
		relay_target_update(rs);
		relay_check_done(rs);
		break;
	case PROTO_REOF:
		if (proto_offset_decode(p, len, &off) == -1 || stream_peer_eof(rs->st, off) == -1) {
			relay_protocol_error(c, "bad end of stream");
			return;
		}
		/* Everything it sent is here: tell it at once. */
		peer_send(c->peer, PROTO_RACK, buf, proto_offset_encode(buf, stream_ack_take(rs->st)),
		    NULL, 0);
		if (!rs->writing)
			relay_target_flush(rs);
		break;
	case PROTO_RHEARTBEAT:
		if (len != 0)
			relay_protocol_error(c, "malformed heartbeat");
		break;
	default:
		relay_protocol_error(c, "unexpected frame on a stream");
		break;
	}
}

/* One frame from a client. */
static void
relay_frame(struct peer *p, void *arg, uint16_t type, const uint8_t *data, uint32_t len)
{
	struct relay_conn *c = arg;

	(void)p;
	if (c->done)
		return;
	c->last_rx = now_ms();
	switch (c->state) {
	case RELAY_HELLO:
		if (type == PROTO_RHELLO)
			relay_hello(c, data, len);
		else
			relay_protocol_error(c, "expected a relay hello");
		break;
	case RELAY_CONNECTING:
		if (type != PROTO_RHEARTBEAT)
			relay_protocol_error(c, "frame before the stream is ready");
		break;
	case RELAY_PROOF:
		if (type == PROTO_RPROOF)
			relay_proof(c, data, len);
		else
			relay_protocol_error(c, "expected a resume proof");
		break;
	case RELAY_LIVE:
		relay_live(c, type, data, len);
		break;
	}
}

/* The link's queue drained: move more of the stream onto it. */
static void
relay_drain(struct peer *p, void *arg)
{
	struct relay_conn *c = arg;

	(void)p;
	if (!c->done && c->rs != NULL)
		relay_pump(c->rs);
}

/* The connection closed or failed. */
static void
relay_error(struct peer *p, void *arg, const char *reason)
{
	struct relay_conn *c = arg;
	int clean = strcmp(reason, "eof") == 0;

	(void)p;
	relay_conn_lost(c, clean ? "connection closed" : reason, clean);
}

/* Before LIVE: the handshake took too long. Then: heartbeats, the peer's
 * silence, acknowledgements owed. */
static void
relay_conn_tick(void *arg)
{
	struct relay_conn *c = arg;
	struct relay_stream *rs = c->rs;
	uint8_t buf[8];

	if (c->state == RELAY_CONNECTING) {
		char why[256];

		snprintf(why, sizeof why, "connecting to %s timed out", target_name);
		relay_stream_end(rs, PROTO_END_TARGET_ERROR, why);
		return;
	}
	if (c->state != RELAY_LIVE) {
		log_info("relay %s: handshake timed out", c->addr);
		relay_conn_close(c);
		return;
	}
	/* A link we stopped reading has not been silent: we were not listening. */
	if (!c->paused && now_ms() - c->last_rx > cfg->heartbeat_timeout) {
		relay_conn_lost(c, "heartbeat_timeout", 0);
		return;
	}
	/* A queue that long is not draining: more heartbeats behind it would
	 * only grow it (a client that never reads), and say nothing sooner. */
	if (peer_queued(c->peer) < RELAY_QUEUE_MAX) {
		if (stream_ack_new(rs->st))
			peer_send(c->peer, PROTO_RACK, buf,
			    proto_offset_encode(buf, stream_ack_take(rs->st)), NULL, 0);
		peer_send(c->peer, PROTO_RHEARTBEAT, NULL, 0, NULL, 0);
	}
	stream_trim(rs->st);
	loop_timer_set(c->timer, c->hb_every);
}

/* A new connection: it has the heartbeat timeout to finish its handshake. */
static void
relay_conn_new(int fd, const char *addr)
{
	struct relay_conn *c = xcalloc(1, sizeof *c);
	int on = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	c->state = RELAY_HELLO;
	c->hb_every = cfg->heartbeat_interval;
	c->last_rx = now_ms();
	c->peer = peer_new(fd, &relay_cbs, c);
	c->timer = loop_timer_new(relay_conn_tick, c);
	loop_timer_set(c->timer, cfg->heartbeat_timeout);
	TAILQ_INSERT_TAIL(&conns, c, entry);
	npending++;
}

/* One accepted connection, unless too many are in their handshake. */
static void
relay_accept(int fd, const char *peer, void *arg)
{
	(void)arg;
	if (npending >= RELAY_MAX_PENDING) {
		log_warn("relay %s: refused: %u connections in their handshake", peer, npending);
		close(fd);
		return;
	}
	relay_conn_new(fd, peer);
}

/* Resolve the target once, at start-up (resolving may block): "ssh" is the
 * embedded endpoint, reached on loopback when it listens on every address. */
static int
relay_resolve_target(char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	const char *spec = cfg->relay_target;
	char host[256], port[16];
	unsigned p;
	int rc;

	if (strcmp(spec, "ssh") == 0)
		spec = cfg->ssh_listen;
	if (config_parse_addr(spec, host, sizeof host, &p) == -1) {
		snprintf(err, errlen, "bad [relay] target %s", cfg->relay_target);
		return -1;
	}
	if (strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, sizeof host, "::1");
	snprintf(port, sizeof port, "%u", p);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "[relay] target %s: %s", cfg->relay_target, gai_strerror(rc));
		return -1;
	}
	memcpy(&target_sa, ai->ai_addr, ai->ai_addrlen);
	target_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	listener_name((struct sockaddr *)&target_sa, target_len, target_name, sizeof target_name);
	if (strcmp(cfg->relay_target, "ssh") == 0) {
		size_t n = strlen(target_name);

		snprintf(target_name + n, sizeof target_name - n, " (the SSH endpoint)");
	}
	return 0;
}

/* Listen on [relay] listen; 0 if it is empty. */
int
relay_open(char *err, size_t errlen)
{
	if (cfg->relay_listen[0] == '\0')
		return 0;
	if (relay_resolve_target(err, errlen) == -1)
		return -1;
	listener = listener_open(cfg->relay_listen, "[relay] listen", relay_accept, NULL, err,
	    errlen);
	if (listener == NULL)
		return -1;
	log_info("relay listening on %s, target %s", cfg->relay_listen, target_name);
	return 0;
}

/* Stop listening, end every stream and drop every handshake. */
void
relay_close(void)
{
	struct relay_stream *rs;
	struct relay_conn *c;

	shutting_down = 1;
	while ((rs = TAILQ_FIRST(&streams)) != NULL)
		relay_stream_end(rs, PROTO_END_SHUTDOWN, NULL);
	while ((c = TAILQ_FIRST(&conns)) != NULL)
		relay_conn_close(c);
	listener_close(listener);
	listener = NULL;
}
