/* `persh proxy HOST PORT`: an ssh ProxyCommand that keeps ssh's connection
 * alive across dead links. ssh's bytes come on stdin and go out on stdout
 * (binary: never a terminal's business); they travel as a resumable stream
 * to the daemon's relay (see the relay protocol in proto.h), which holds the
 * connection to the real SSH server. stderr carries one-line statuses.
 *
 * A link that dies (an error, or no frame for [heartbeat] timeout) is
 * replaced after a backoff with full jitter; the new link proves it owns the
 * stream and both sides replay what the other lacks, so ssh sees nothing
 * but a pause. While down, stdin is still read into the stream's buffer
 * until it is full. After [relay] resume_window of failing we give up and
 * exit 3, which ssh reports as a closed connection.
 *
 * Exit status: 0 once both directions ended (or ssh let us go), 1 when the
 * relay refused or ended the stream, 2 for usage, 3 when the relay could not
 * be reached (at once for the first connection: retries are for links that
 * worked once). */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backoff.h"
#include "cmd.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "proto.h"
#include "stream.h"
#include "streamkey.h"
#include "util.h"

/* Bytes queued on the link before we stop moving more from the stream. */
#define PROXY_QUEUE_MAX (256 * 1024)
/* Bytes queued for stdout before we stop reading the link. */
#define PROXY_OUT_MAX (1024 * 1024)
/* How long leaving may take to hand the relay our last frames. */
#define PROXY_LEAVE_MS 2000

enum proxy_state {
	PROXY_DOWN,
	PROXY_CONNECTING, /* TCP connect under way */
	PROXY_HELLO,      /* RHELLO sent: waiting for RWELCOME or RCHALLENGE */
	PROXY_PROOF,      /* RPROOF sent: waiting for RRESUMED */
	PROXY_LIVE,
};

struct proxy {
	const char *host, *port;
	char where[300]; /* HOST:PORT, for messages */
	enum proxy_state state;
	struct stream *st;
	struct backoff *backoff;
	struct peer *peer;
	int fd;                 /* the socket while connecting */
	struct addrinfo *ai, *next_ai;
	struct event *conn_ev, *in_ev, *out_ev;
	struct event *hb_timer, *deadline, *retry_timer, *leave_timer;
	struct evbuffer *out;
	uint8_t priv[STREAMKEY_LEN], pub[STREAMKEY_LEN]; /* during NEW only */
	uint8_t id[STREAMKEY_ID_LEN], secret[STREAMKEY_LEN];
	int ever;        /* the stream exists: later losses are retried */
	int reading;     /* in_ev armed */
	int writing;     /* out_ev armed */
	int out_closed;  /* stdout closed (done, or ssh went away) */
	int eof_sent;    /* our REOF went out on this link */
	int paused;      /* the link is not read: stdout's queue is full */
	int leaving, leave_status;
	int in_fl, out_fl; /* the descriptors' flags before we changed them */
	int tty_err;     /* stderr is a terminal: lines end in \r\n */
	int64_t last_rx, hb_every, down_since, leave_at;
	int status;
	char msg[600];
};

static struct proxy px;

static void proxy_connect(void);
static void proxy_connected(evutil_socket_t, short, void *);
static void proxy_lost(const char *why);
static void proxy_leave(int status, const char *fmt, ...) PRINTFLIKE(2, 3);

/* One status line on stderr. */
static void PRINTFLIKE(1, 2)
proxy_say(const char *fmt, ...)
{
	char line[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "persh proxy: %s%s", line, px.tty_err ? "\r\n" : "\n");
}

/* Leave the loop now with an exit status and a last line. */
static void PRINTFLIKE(2, 3)
proxy_finish(int status, const char *fmt, ...)
{
	va_list ap;

	if (px.status >= 0)
		return;
	px.status = status;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(px.msg, sizeof px.msg, fmt, ap);
		va_end(ap);
	}
	loop_exit();
}

/* Read stdin while it is open and the stream has room; a full stream is
 * what pushes back on ssh. */
static void
proxy_update_read(void)
{
	int want = !px.leaving && !stream_source_closed(px.st) && stream_room(px.st) > 0;

	if (want && !px.reading)
		event_add(px.in_ev, NULL);
	else if (!want && px.reading)
		event_del(px.in_ev);
	px.reading = want;
}

/* Move stream bytes onto the link while its queue is short (all of them
 * when leaving), then our REOF once every byte has gone. */
static void
proxy_pump(void)
{
	uint8_t buf[8];
	const uint8_t *p;
	size_t n;

	if (px.state != PROXY_LIVE)
		return;
	while ((px.leaving || peer_queued(px.peer) < PROXY_QUEUE_MAX) &&
	    (p = stream_pending(px.st, &n)) != NULL) {
		if (n > PROTO_MAX_DATA)
			n = PROTO_MAX_DATA;
		if (peer_send(px.peer, PROTO_RDATA, p, n, NULL, 0) == -1)
			return;
		stream_sent(px.st, n);
	}
	if (stream_eof_due(px.st) && !px.eof_sent) {
		peer_send(px.peer, PROTO_REOF, buf, proto_offset_encode(buf, stream_end(px.st)), NULL,
		    0);
		px.eof_sent = 1;
	}
}

/* Both directions ended: the relay's REOF is written out, and all of ours
 * is acknowledged. */
static void
proxy_check_done(void)
{
	if (px.out_closed && stream_done(px.st))
		proxy_leave(EXIT_OK, NULL);
}

/* Stop writing stdout: ssh reads its end of file. The descriptor stays
 * taken (by /dev/null), so a new socket can never land on it. */
static void
proxy_close_stdout(void)
{
	struct stat sb;
	int fd;

	if (px.out_closed)
		return;
	px.out_closed = 1;
	if (px.writing) {
		event_del(px.out_ev);
		px.writing = 0;
	}
	evbuffer_drain(px.out, evbuffer_get_length(px.out));
	if (fstat(STDOUT_FILENO, &sb) == 0 && S_ISSOCK(sb.st_mode))
		shutdown(STDOUT_FILENO, SHUT_WR);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd != -1) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
}

/* Write what is queued for stdout. When the relay's REOF has been written
 * through, close it; resume reading a link paused for a full queue. */
static void
proxy_flush(void)
{
	int n;

	if (px.out_closed)
		return;
	if (evbuffer_get_length(px.out) > 0) {
		n = evbuffer_write(px.out, STDOUT_FILENO);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/* ssh closed its end: nobody reads the stream any more. */
			proxy_close_stdout();
			proxy_leave(EXIT_OK, NULL);
			return;
		}
	}
	if (evbuffer_get_length(px.out) > 0 && !px.writing) {
		event_add(px.out_ev, NULL);
		px.writing = 1;
	} else if (evbuffer_get_length(px.out) == 0 && px.writing) {
		event_del(px.out_ev);
		px.writing = 0;
	}
	if (evbuffer_get_length(px.out) == 0 && stream_peer_closed(px.st)) {
		proxy_close_stdout();
		proxy_check_done();
		return;
	}
	if (px.paused && px.peer != NULL && evbuffer_get_length(px.out) < PROXY_OUT_MAX / 2) {
		px.paused = 0;
		px.last_rx = now_ms(); /* its silence while paused was ours */
		peer_pause(px.peer, 0);
	}
}

/* Bytes for ssh: written at once when nothing is queued before them (no
 * copy), the rest queued. */
static void
proxy_write(const uint8_t *p, size_t len)
{
	ssize_t n = 0;

	if (evbuffer_get_length(px.out) == 0) {
		n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/* ssh closed its end: nobody reads the stream any more. */
			proxy_close_stdout();
			proxy_leave(EXIT_OK, NULL);
			return;
		}
		if (n < 0)
			n = 0;
	}
	if ((size_t)n < len)
		evbuffer_add(px.out, p + n, len - (size_t)n);
	if (!px.writing)
		proxy_flush();
}

/* stdout can take more. */
static void
proxy_out_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	proxy_flush();
}

/* Bytes from ssh, straight into the stream. */
static void
proxy_in_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t *p;
	size_t len;
	ssize_t n;

	(void)what;
	(void)arg;
	p = stream_reserve(px.st, &len);
	if (p == NULL) {
		proxy_update_read();
		return;
	}
	n = read(fd, p, len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		stream_close_source(px.st); /* EOF, or an error that ends it alike */
	else
		stream_commit(px.st, (size_t)n);
	proxy_update_read();
	proxy_pump();
	proxy_check_done();
}

/* Forget the link and any connect under way. */
static void
proxy_drop_link(void)
{
	if (px.peer != NULL) {
		peer_free(px.peer);
		px.peer = NULL;
	}
	if (px.conn_ev != NULL) {
		event_free(px.conn_ev);
		px.conn_ev = NULL;
	}
	if (px.fd != -1) {
		close(px.fd);
		px.fd = -1;
	}
	if (px.ai != NULL) {
		freeaddrinfo(px.ai);
		px.ai = px.next_ai = NULL;
	}
	px.state = PROXY_DOWN;
	px.paused = 0;
	loop_timer_set(px.hb_timer, -1);
	loop_timer_set(px.deadline, -1);
}

/* The leave timer: the link has taken our last frames, or ran out of time. */
static void
proxy_leave_tick(void *arg)
{
	(void)arg;
	if (px.peer != NULL && peer_queued(px.peer) > 0 && now_ms() < px.leave_at) {
		loop_timer_set(px.leave_timer, 10);
		return;
	}
	proxy_finish(px.leave_status, NULL);
}

/* We are going for good: tell the relay (our REOF after every byte read, so
 * it ends the stream instead of keeping it for a resume), then exit once
 * the link has taken it, or after PROXY_LEAVE_MS. */
static void
proxy_leave(int status, const char *fmt, ...)
{
	va_list ap;

	if (px.leaving)
		return;
	px.leaving = 1;
	px.leave_status = status;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(px.msg, sizeof px.msg, fmt, ap);
		va_end(ap);
	}
	proxy_update_read();
	if (px.state != PROXY_LIVE) {
		proxy_finish(status, NULL);
		return;
	}
	stream_close_source(px.st);
	proxy_pump();
	px.leave_at = now_ms() + PROXY_LEAVE_MS;
	loop_timer_set(px.leave_timer, 0);
}

/* Send an acknowledgement of everything received. */
static void
proxy_ack(void)
{
	uint8_t buf[8];

	peer_send(px.peer, PROTO_RACK, buf, proto_offset_encode(buf, stream_ack_take(px.st)), NULL, 0);
}

/* Heartbeats come at least three times per timeout the relay announced. */
static void
proxy_peer_timeout(uint32_t ms)
{
	int64_t want = ms / 3;

	if (ms > 0 && want < px.hb_every)
		px.hb_every = want > 50 ? want : 50;
}

/* The link is up and attached to the stream. */
static void
proxy_live(void)
{
	px.state = PROXY_LIVE;
	px.eof_sent = 0;
	px.last_rx = now_ms();
	loop_timer_set(px.deadline, -1);
	loop_timer_set(px.hb_timer, px.hb_every);
	if (px.down_since >= 0) {
		proxy_say("resumed after %.1fs", (double)(now_ms() - px.down_since) / 1000.0);
		px.down_since = -1;
	}
	backoff_reset(px.backoff);
	proxy_pump();
}

/* RWELCOME: the stream exists; derive its secret and forget our key. */
static void
proxy_welcome(const uint8_t *p, uint32_t len)
{
	struct proto_rwelcome w;
	int rc;

	if (proto_rwelcome_decode(p, len, &w) == -1) {
		proxy_finish(EXIT_ERROR, "persh proxy: %s: malformed answer from the relay", px.where);
		return;
	}
	rc = streamkey_secret(px.priv, w.key, px.pub, w.key, w.id, px.secret);
	streamkey_wipe(px.priv, sizeof px.priv);
	if (rc == -1) {
		proxy_finish(EXIT_ERROR, "persh proxy: %s: key exchange with the relay failed",
		    px.where);
		return;
	}
	memcpy(px.id, w.id, sizeof px.id);
	px.ever = 1;
	proxy_peer_timeout(w.hb_timeout_ms);
	log_debug("proxy: stream %02x%02x%02x%02x established", px.id[0], px.id[1], px.id[2],
	    px.id[3]);
	proxy_live();
}

/* RCHALLENGE: prove we own the stream, with the offset we have reached. */
static void
proxy_challenge(const uint8_t *p, uint32_t len)
{
	struct proto_rproof pr;
	uint8_t challenge[STREAMKEY_LEN], buf[64];

	if (proto_rchallenge_decode(p, len, challenge) == -1) {
		proxy_lost("malformed challenge from the relay");
		return;
	}
	pr.offset = stream_received(px.st);
	if (streamkey_proof(px.secret, px.id, challenge, pr.offset, pr.proof) == -1) {
		proxy_finish(EXIT_ERROR, "persh proxy: cannot compute the resume proof");
		return;
	}
	peer_send(px.peer, PROTO_RPROOF, buf, proto_rproof_encode(buf, &pr), NULL, 0);
	streamkey_wipe(pr.proof, sizeof pr.proof);
	px.state = PROXY_PROOF;
}

/* RRESUMED: send again everything from the offset the relay has reached. */
static void
proxy_resumed(const uint8_t *p, uint32_t len)
{
	struct proto_rresumed r;

	if (proto_rresumed_decode(p, len, &r) == -1 || stream_rewind(px.st, r.offset) == -1) {
		proxy_finish(EXIT_ERROR, "persh proxy: the relay resumed the stream at a bad offset");
		return;
	}
	proxy_peer_timeout(r.hb_timeout_ms);
	log_debug("proxy: resumed; replaying %llu bytes",
	    (unsigned long long)(stream_end(px.st) - r.offset));
	proxy_update_read();
	proxy_live();
}

/* An ERROR from the relay: never retried, it would say the same again. */
static void
proxy_refused(const uint8_t *p, uint32_t len)
{
	struct proto_text t;
	const char *text;

	if (proto_text_decode(p, len, &t) == -1) {
		t.code = 0;
		t.text[0] = '\0';
	}
	text = t.text[0] != '\0' ? t.text : proto_error_text(t.code);
	if (!px.ever)
		proxy_finish(EXIT_ERROR, "persh proxy: relay at %s: %s", px.where, text);
	else if (t.code == PROTO_E_NOSTREAM || t.code == PROTO_E_AUTH)
		proxy_finish(EXIT_ERROR, "persh proxy: the relay refused to resume the stream: %s",
		    text);
	else
		proxy_finish(EXIT_ERROR, "persh proxy: the relay ended the stream: %s", text);
}

/* A frame on a live link. A relay breaking the protocol is not retried. */
static void
proxy_stream_frame(uint16_t type, const uint8_t *p, uint32_t len)
{
	uint64_t off;

	switch (type) {
	case PROTO_RDATA:
		if (len == 0 || stream_peer_closed(px.st))
			break;
		stream_receive(px.st, len);
		if (stream_ack_due(px.st))
			proxy_ack();
		if (px.out_closed)
			return; /* ssh is gone: nobody to give it to */
		proxy_write(p, len);
		if (px.peer != NULL && !px.paused && evbuffer_get_length(px.out) >= PROXY_OUT_MAX) {
			px.paused = 1;
			peer_pause(px.peer, 1);
		}
		return;
	case PROTO_RACK:
		if (proto_offset_decode(p, len, &off) == -1 || stream_ack(px.st, off) == -1)
			break;
		proxy_update_read();
		proxy_check_done();
		return;
	case PROTO_REOF:
		if (proto_offset_decode(p, len, &off) == -1 || stream_peer_eof(px.st, off) == -1)
			break;
		proxy_ack();
		if (!px.writing)
			proxy_flush();
		return;
	case PROTO_RHEARTBEAT:
		return;
	}
	proxy_finish(EXIT_ERROR, "persh proxy: the relay broke the protocol (frame %u)", type);
}

/* One frame from the relay. */
static void
proxy_frame(struct peer *p, void *arg, uint16_t type, const uint8_t *data, uint32_t len)
{
	(void)p;
	(void)arg;
	if (px.status >= 0)
		return;
	px.last_rx = now_ms();
	if (type == PROTO_ERROR) {
		proxy_refused(data, len);
		return;
	}
	switch (px.state) {
	case PROXY_HELLO:
		if (!px.ever && type == PROTO_RWELCOME)
			proxy_welcome(data, len);
		else if (px.ever && type == PROTO_RCHALLENGE)
			proxy_challenge(data, len);
		else if (!px.ever)
			proxy_finish(EXIT_ERROR, "persh proxy: %s does not speak the relay protocol",
			    px.where);
		else
			proxy_lost("unexpected answer from the relay");
		break;
	case PROXY_PROOF:
		if (type == PROTO_RRESUMED)
			proxy_resumed(data, len);
		else
			proxy_lost("unexpected answer from the relay");
		break;
	case PROXY_LIVE:
		proxy_stream_frame(type, data, len);
		break;
	default:
		break;
	}
}

/* The link's queue drained: move more of the stream onto it. */
static void
proxy_drain(struct peer *p, void *arg)
{
	(void)p;
	(void)arg;
	proxy_pump();
}

/* The link closed or failed. */
static void
proxy_error(struct peer *p, void *arg, const char *reason)
{
	(void)p;
	(void)arg;
	if (strcmp(reason, "eof") == 0)
		reason = "connection closed";
	else if (strstr(reason, "frame") != NULL && !px.ever) {
		/* Bytes that are not frames at all: an sshd, a web server... */
		proxy_finish(EXIT_ERROR, "persh proxy: %s is not a persh relay (%s)", px.where,
		    reason);
		return;
	}
	proxy_lost(reason);
}

static const struct peer_cbs proxy_cbs = {
	.frame = proxy_frame,
	.drain = proxy_drain,
	.error = proxy_error,
};

/* The TCP connection is up: say hello, for a new stream or a resume. */
static void
proxy_hello(void)
{
	struct proto_rhello h;
	uint8_t buf[64];

	memset(&h, 0, sizeof h);
	h.magic = PROTO_RELAY_MAGIC;
	h.version = PROTO_RELAY_VERSION;
	h.hb_timeout_ms = (uint32_t)cfg->heartbeat_timeout;
	if (px.ever) {
		h.kind = PROTO_RELAY_RESUME;
		memcpy(h.id, px.id, sizeof h.id);
	} else {
		h.kind = PROTO_RELAY_NEW;
		if (streamkey_keypair(px.priv, px.pub) == -1) {
			proxy_finish(EXIT_ERROR, "persh proxy: cannot make a key");
			return;
		}
		memcpy(h.key, px.pub, sizeof h.key);
	}
	px.state = PROXY_HELLO;
	peer_send(px.peer, PROTO_RHELLO, buf, proto_rhello_encode(buf, &h), NULL, 0);
}

/* Start connecting to the next address; -1 with errno if none is left. */
static int
proxy_try_next(void)
{
	int e = ECONNREFUSED;

	while (px.next_ai != NULL) {
		struct addrinfo *ai = px.next_ai;

		px.next_ai = ai->ai_next;
		px.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (px.fd == -1) {
			e = errno;
			continue;
		}
		if (connect(px.fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			px.conn_ev = event_new(loop_base(), px.fd, EV_WRITE, proxy_connected, NULL);
			event_add(px.conn_ev, NULL);
			return 0;
		}
		e = errno;
		close(px.fd);
		px.fd = -1;
	}
	errno = e;
	return -1;
}

/* The connect finished, or failed (then try the next address). */
static void
proxy_connected(evutil_socket_t fd, short what, void *arg)
{
	int err = 0, on = 1;
	socklen_t len = sizeof err;

	(void)what;
	(void)arg;
	event_free(px.conn_ev);
	px.conn_ev = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		close(px.fd);
		px.fd = -1;
		if (proxy_try_next() == -1)
			proxy_lost(strerror(err));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	freeaddrinfo(px.ai);
	px.ai = px.next_ai = NULL;
	px.peer = peer_new(px.fd, &proxy_cbs, NULL);
	px.fd = -1;
	proxy_hello();
}

/* Open a link: resolve (again, in case the relay moved), connect, hello;
 * all of it within [heartbeat] timeout. */
static void
proxy_connect(void)
{
	struct addrinfo hints;
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	px.state = PROXY_CONNECTING;
	loop_timer_set(px.deadline, cfg->heartbeat_timeout);
	rc = getaddrinfo(px.host, px.port, &hints, &px.ai);
	if (rc != 0) {
		px.ai = NULL;
		proxy_lost(gai_strerror(rc));
		return;
	}
	px.next_ai = px.ai;
	if (proxy_try_next() == -1)
		proxy_lost(strerror(errno));
}

/* Connecting and the handshake took too long. */
static void
proxy_deadline(void *arg)
{
	(void)arg;
	proxy_lost(px.state == PROXY_CONNECTING ? "connection timed out"
						: "the relay did not answer in time");
}

/* Try again once the backoff delay has passed. */
static void
proxy_retry(void *arg)
{
	(void)arg;
	proxy_connect();
}

/* The link is gone: give up (the first connection, or past the resume
 * window), or wait and try again. */
static void
proxy_lost(const char *why)
{
	char window[32];
	int64_t delay, left;

	if (px.status >= 0)
		return;
	proxy_drop_link();
	if (!px.ever) {
		proxy_finish(EXIT_UNREACHABLE, "persh proxy: cannot reach the relay at %s: %s",
		    px.where, why);
		return;
	}
	if (px.leaving) {
		proxy_finish(px.leave_status, NULL);
		return;
	}
	if (px.down_since < 0) {
		px.down_since = now_ms();
		proxy_say("link lost (%s), reconnecting...", why);
	} else
		log_debug("proxy: attempt %u failed: %s", backoff_attempts(px.backoff), why);
	left = cfg->relay_resume_window - (now_ms() - px.down_since);
	if (left <= 0) {
		config_format_duration(cfg->relay_resume_window, window, sizeof window);
		proxy_finish(EXIT_UNREACHABLE, "persh proxy: gave up after %s without the relay: %s",
		    window, why);
		return;
	}
	delay = backoff_next(px.backoff);
	if (delay > left)
		delay = left;
	loop_timer_set(px.retry_timer, delay);
}

/* Say we are alive, acknowledge, and notice a silent relay. */
static void
proxy_heartbeat(void *arg)
{
	(void)arg;
	if (px.state != PROXY_LIVE)
		return;
	/* A link we stopped reading has not been silent: we were not listening. */
	if (!px.paused && now_ms() - px.last_rx > cfg->heartbeat_timeout) {
		proxy_lost("no heartbeat from the relay");
		return;
	}
	/* Behind a queue that long, a heartbeat says nothing sooner. */
	if (peer_queued(px.peer) < PROXY_QUEUE_MAX) {
		if (stream_ack_new(px.st))
			proxy_ack();
		peer_send(px.peer, PROTO_RHEARTBEAT, NULL, 0, NULL, 0);
	}
	stream_trim(px.st);
	loop_timer_set(px.hb_timer, px.hb_every);
}

/* SIGHUP (ssh ends its ProxyCommand so), SIGTERM, SIGINT: leave. */
static void
proxy_signal(void *arg)
{
	proxy_leave(arg != NULL ? EXIT_ERROR : EXIT_OK, NULL);
}

/* Print the usage; returns the usage exit code. */
static int
proxy_usage(void)
{
	fprintf(stderr, "usage: persh proxy [-c FILE] HOST PORT\n");
	return EXIT_USAGE;
}

/* A descriptor the loop can watch: a pipe, a socket or a terminal (epoll
 * refuses files and /dev/null). */
static int
proxy_watchable(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) == -1)
		return 0;
	return S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode) || isatty(fd);
}

/* Take stdin and stdout: non-blocking (restored at exit), watched. */
static int
proxy_take_stdio(void)
{
	if (!proxy_watchable(STDIN_FILENO) || !proxy_watchable(STDOUT_FILENO))
		return -1;
	px.in_fl = fcntl(STDIN_FILENO, F_GETFL);
	px.out_fl = fcntl(STDOUT_FILENO, F_GETFL);
	if (px.in_fl == -1 || px.out_fl == -1)
		return -1;
	fd_set_nonblock(STDIN_FILENO, 1);
	fd_set_nonblock(STDOUT_FILENO, 1);
	px.in_ev = event_new(loop_base(), STDIN_FILENO, EV_READ | EV_PERSIST, proxy_in_cb, NULL);
	px.out_ev = event_new(loop_base(), STDOUT_FILENO, EV_WRITE | EV_PERSIST, proxy_out_cb, NULL);
	if (px.in_ev == NULL || px.out_ev == NULL || event_add(px.in_ev, NULL) == -1)
		return -1;
	/* A descriptor epoll cannot watch (a file, /dev/null) fails here too. */
	if (event_add(px.out_ev, NULL) == -1)
		return -1;
	event_del(px.out_ev);
	px.reading = 1;
	return 0;
}

/* persh proxy [-c FILE] HOST PORT */
int
cmd_proxy(int argc, char **argv)
{
	const char *path = NULL;
	struct event *sigs[4];
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "+c:h")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		default:
			return proxy_usage();
		}
	}
	if (argc - optind != 2)
		return proxy_usage();
	cmd_config(path);
	px.host = argv[optind];
	px.port = argv[optind + 1];
	if (strchr(px.host, ':') != NULL)
		snprintf(px.where, sizeof px.where, "[%.255s]:%.16s", px.host, px.port);
	else
		snprintf(px.where, sizeof px.where, "%.255s:%.16s", px.host, px.port);
	px.tty_err = isatty(STDERR_FILENO);
	if (getenv("PERSH_CLIENT_LOG") != NULL && getenv("PERSH_CLIENT_LOG")[0] != '\0')
		log_open(getenv("PERSH_CLIENT_LOG"), LOG_LVL_DEBUG, 0);
	if (loop_init() == NULL)
		fatal(EXIT_ERROR, "cannot create the event loop");

	px.status = -1;
	px.fd = -1;
	px.down_since = -1;
	px.in_fl = px.out_fl = -1;
	px.st = stream_new((size_t)cfg->relay_buffer);
	px.out = evbuffer_new();
	px.backoff = backoff_new(cfg->client_reconnect_base, cfg->client_reconnect_max, 0);
	px.hb_every = cfg->heartbeat_interval;
	px.hb_timer = loop_timer_new(proxy_heartbeat, NULL);
	px.deadline = loop_timer_new(proxy_deadline, NULL);
	px.retry_timer = loop_timer_new(proxy_retry, NULL);
	px.leave_timer = loop_timer_new(proxy_leave_tick, NULL);
	sigs[0] = loop_signal(SIGHUP, proxy_signal, NULL);
	sigs[1] = loop_signal(SIGTERM, proxy_signal, &px);
	sigs[2] = loop_signal(SIGINT, proxy_signal, &px);
	sigs[3] = NULL;
	if (proxy_take_stdio() == -1)
		proxy_finish(EXIT_USAGE, "persh proxy: stdin and stdout must be pipes or sockets "
					 "(it is meant as an ssh ProxyCommand)");
	else
		proxy_connect();

	if (px.status < 0)
		loop_run();

	if (px.msg[0] != '\0')
		proxy_say("%s", px.msg + (strncmp(px.msg, "persh proxy: ", 13) == 0 ? 13 : 0));
	proxy_drop_link();
	if (px.in_ev != NULL)
		event_free(px.in_ev);
	if (px.out_ev != NULL)
		event_free(px.out_ev);
	if (px.in_fl != -1)
		fcntl(STDIN_FILENO, F_SETFL, px.in_fl);
	if (px.out_fl != -1 && !px.out_closed)
		fcntl(STDOUT_FILENO, F_SETFL, px.out_fl);
	loop_event_free(px.hb_timer);
	loop_event_free(px.deadline);
	loop_event_free(px.retry_timer);
	loop_event_free(px.leave_timer);
	for (int i = 0; sigs[i] != NULL; i++)
		loop_event_free(sigs[i]);
	loop_done();
	evbuffer_free(px.out);
	stream_free(px.st);
	backoff_free(px.backoff);
	streamkey_wipe(px.secret, sizeof px.secret);
	streamkey_wipe(px.priv, sizeof px.priv);
	return px.status >= 0 ? px.status : EXIT_ERROR;
}
