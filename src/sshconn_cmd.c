/* What runs in the SSH channel, and the conversation with the supervisor
 * on fd 4: the exec command line (attach, ls, kill, detach, bridge; a shell
 * is an attach), our HELLO and requests as a client of the daemon, its
 * answers turned into output, messages and an exit status, and the client's
 * input passed on (keystrokes up to the detach key, or whole bridge frames).
 * The channel itself (buffers, backpressure, the end) is sshconn_chan.c's. */
#include "sshconn.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "util.h"

/* The longest exec command we look at. */
#define SC_CMD_MAX 1024

static void sc_send(uint16_t type, const void *p, size_t len);
static void sc_frame(struct peer *, void *, uint16_t, const uint8_t *, uint32_t);
static void sc_peer_drain(struct peer *, void *);
static void sc_peer_error(struct peer *, void *, const char *);

static const struct peer_cbs sc_peer_cbs = {
	.frame = sc_frame,
	.drain = sc_peer_drain,
	.error = sc_peer_error,
};

/* Done with the supervisor: what is queued still goes out. After a
 * session's EXIT, EXIT_SEEN first if the client has it: it closed the
 * channel after our exit-status (otherwise the session keeps the status for
 * the next attach). */
void
sc_peer_close(void)
{
	loop_timer_set(sc.heartbeat, -1);
	if (sc.sup == NULL)
		return;
	if (sc.exit_ack && sc.status_sent && sc.remote_closed)
		sc_send(PROTO_EXIT_SEEN, NULL, 0);
	sc.exit_ack = 0;
	/* Paused first: peer_free_flush alone would let the peer go on
	 * delivering frames it has already read. */
	peer_pause(sc.sup, 1);
	peer_free_flush(sc.sup);
	sc.sup = NULL;
}

/* An interactive attach ends: undo what the session's programs may have
 * set in the client's terminal (as `persh attach` does), then say why. */
static void
sc_finish_attach(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
sc_finish_attach(int status, const char *fmt, ...)
{
	char msg[400], reset[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (sc.attached) {
		snprintf(reset, sizeof reset,
		    "\033[?1049l\033[?1000l\033[?1002l\033[?1003l\033[?1004l\033[?1005l\033[?1006l"
		    "\033[?1015l\033[?2004l\033[?1l\033>\033[r\033[0m\033[?25h\033[%u;1H",
		    (unsigned)sc.rows);
		evbuffer_add(sc.out, reset, strlen(reset));
	}
	sc_finish(status, 0, "\n%s\n", msg); /* a pty: sc_text adds the \r */
}

/* Send a frame to the supervisor. */
static void
sc_send(uint16_t type, const void *p, size_t len)
{
	if (sc.sup != NULL)
		peer_send(sc.sup, type, p, len, NULL, 0);
}

/* Heartbeats to the supervisor while we are its client (in bridge mode the
 * remote client sends its own). */
static void
sc_heartbeat(void *arg)
{
	uint8_t zero[8] = { 0 };

	(void)arg;
	if (sc.sup == NULL || (sc.finishing && !sc.exit_ack) || sc.mode == SC_BRIDGE)
		return;
	sc_send(PROTO_HEARTBEAT, zero, sizeof zero);
	loop_timer_set(sc.heartbeat, sc.hb_every);
}

/* Start a conversation with the supervisor: our HELLO. */
static int
sc_hello(void)
{
	struct proto_hello h;
	uint8_t buf[32];

	if (sc.sup == NULL) {
		sc_finish(EXIT_ERROR, 1, "persh: lost the daemon\n");
		return -1;
	}
	memset(&h, 0, sizeof h);
	h.magic = PROTO_MAGIC;
	h.version = PROTO_VERSION;
	h.hb_timeout_ms = (uint32_t)cfg->heartbeat_timeout;
	h.pid = (uint32_t)getpid();
	sc_send(PROTO_HELLO, buf, proto_hello_encode(buf, &h));
	sc_spoke();
	sc.hb_every = cfg->heartbeat_interval;
	loop_timer_set(sc.heartbeat, sc.hb_every);
	return 0;
}

/* A command we do not run: a message and a status, fd 4 untouched. */
static void
sc_refuse(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
sc_refuse(int status, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sc.mode = SC_REFUSE;
	sc_finish(status, 1, "%s\n", msg);
}

/* 0 if name is a valid session name, else refused (status 2). */
static int
sc_check_name(const char *name)
{
	if (name_valid(name, strlen(name)))
		return 0;
	sc_refuse(EXIT_USAGE, "persh: invalid session name '%.80s' (use 1-64 of A-Z a-z 0-9 . _ -)",
	    name);
	return -1;
}

/* shell, or exec "attach [-r] [NAME]": an interactive client of NAME. */
static void
sc_start_attach(const char *name, int readonly)
{
	struct proto_attach a;
	uint8_t buf[PROTO_MAX_PAYLOAD - PROTO_MAX_DATA];

	if (!sc.pty) {
		sc_refuse(EXIT_USAGE, "persh: attach needs a terminal (use ssh -t)");
		return;
	}
	if (name == NULL)
		name = sc.env_session[0] != '\0' ? sc.env_session : cfg->session_default;
	if (sc_check_name(name) == -1)
		return;
	snprintf(sc.name, sizeof sc.name, "%s", name);
	sc.mode = SC_ATTACH;
	sc.readonly = readonly;
	log_info("ssh %s: attach %s%s", sc.peer, sc.name, readonly ? " (read-only)" : "");
	if (sc_hello() == -1)
		return;
	memset(&a, 0, sizeof a);
	a.rows = sc.att_rows = sc.rows;
	a.cols = sc.att_cols = sc.cols;
	a.flags = PROTO_ATTACH_CREATE | (readonly ? PROTO_ATTACH_READONLY : 0);
	snprintf(a.name, sizeof a.name, "%s", sc.name);
	snprintf(a.term, sizeof a.term, "%s", sc.term);
	sc_send(PROTO_ATTACH, buf, proto_attach_encode(buf, &a));
}

/* exec "ls [--json]". */
static void
sc_start_ls(int json)
{
	sc.mode = SC_LS;
	log_debug("ssh %s: ls", sc.peer);
	sc.ls_fp = open_memstream(&sc.ls_buf, &sc.ls_len);
	if (sc.ls_fp == NULL) {
		sc_refuse(EXIT_ERROR, "persh: out of memory");
		return;
	}
	ctl_ls_begin(&sc.ls, sc.ls_fp, json);
	if (sc_hello() == 0) {
		uint8_t flags[4] = { 0 };

		sc_send(PROTO_LIST, flags, sizeof flags);
	}
}

/* exec "kill NAME" / "detach NAME". */
static void
sc_start_named(enum sc_mode mode, const char *name)
{
	uint8_t buf[PROTO_MAX_TEXT + 1];

	if (sc_check_name(name) == -1)
		return;
	sc.mode = mode;
	snprintf(sc.name, sizeof sc.name, "%s", name);
	log_info("ssh %s: %s %s", sc.peer, mode == SC_KILL ? "kill" : "detach", name);
	if (sc_hello() == 0)
		sc_send(mode == SC_KILL ? PROTO_KILL : PROTO_DETACH_ALL, buf,
		    proto_name_encode(buf, name));
}

/* exec "bridge NAME": the remote client's frames pass through; its HELLO
 * is the first thing the supervisor hears from us. */
static void
sc_start_bridge(const char *name)
{
	if (sc_check_name(name) == -1)
		return;
	sc.mode = SC_BRIDGE;
	snprintf(sc.name, sizeof sc.name, "%s", name);
	log_info("ssh %s: bridge %s", sc.peer, name);
	if (sc.sup == NULL)
		sc_finish(EXIT_ERROR, 1, "persh: lost the daemon\n");
}

/* The shell or exec request was accepted: run it. */
void
sc_start(void)
{
	char cmd[SC_CMD_MAX + 1], word[81];
	char *w[5], *save = NULL, *tok;
	int n = 0;

	sc.started = 1;
	if (sc.command == NULL) {
		sc_start_attach(NULL, 0);
		return;
	}
	snprintf(cmd, sizeof cmd, "%s", sc.command);
	for (tok = strtok_r(cmd, " \t\r\n", &save); tok != NULL && n < 5;
	    tok = strtok_r(NULL, " \t\r\n", &save))
		w[n++] = tok;
	/* `ssh host persh bridge NAME` works against a stock sshd too: the same
	 * command line works here. */
	if (n > 0 && strcmp(w[0], "persh") == 0)
		memmove(w, w + 1, sizeof w[0] * (size_t)--n);
	if (n > 0 && strcmp(w[0], "attach") == 0) {
		int ro = n > 1 && strcmp(w[1], "-r") == 0;

		if (n - ro > 2 || (n - ro == 2 && w[1 + ro][0] == '-'))
			sc_refuse(EXIT_USAGE, "persh: usage: attach [-r] [NAME]");
		else
			sc_start_attach(n - ro == 2 ? w[1 + ro] : NULL, ro);
	} else if (n > 0 && strcmp(w[0], "ls") == 0) {
		if (n == 1 || (n == 2 && strcmp(w[1], "--json") == 0))
			sc_start_ls(n == 2);
		else
			sc_refuse(EXIT_USAGE, "persh: usage: ls [--json]");
	} else if (n > 0 && (strcmp(w[0], "kill") == 0 || strcmp(w[0], "detach") == 0)) {
		if (n == 2)
			sc_start_named(w[0][0] == 'k' ? SC_KILL : SC_DETACH, w[1]);
		else
			sc_refuse(EXIT_USAGE, "persh: usage: %s NAME", w[0]);
	} else if (n > 0 && strcmp(w[0], "bridge") == 0) {
		if (n == 2)
			sc_start_bridge(w[1]);
		else
			sc_refuse(EXIT_USAGE, "persh: usage: bridge NAME");
	} else {
		snprintf(word, sizeof word, "%s", n > 0 ? w[0] : "");
		for (char *p = word; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
				*p = '?';
		log_info("ssh %s: unknown command '%s'", sc.peer, word);
		sc_refuse(EXIT_USAGE,
		    "persh: unknown command '%s' (use: attach NAME, ls [--json], kill NAME, "
		    "detach NAME, bridge NAME)",
		    word);
	}
}

/* Frames from the supervisor while we are an interactive client. */
static void
sc_attach_frame(uint16_t type, const uint8_t *data, uint32_t len)
{
	struct proto_attached a;
	struct proto_text t;
	uint8_t buf[4];

	switch (type) {
	case PROTO_ATTACHED:
		if (proto_attached_decode(data, len, &a) == -1) {
			sc_finish(EXIT_ERROR, 1, "persh: malformed answer from the daemon\n");
			return;
		}
		sc.attached = 1;
		if (sc.rows != sc.att_rows || sc.cols != sc.att_cols) {
			put16(buf, sc.rows);
			put16(buf + 2, sc.cols);
			sc_send(PROTO_RESIZE, buf, sizeof buf);
		}
		sc_kick(); /* keystrokes may be waiting */
		break;
	case PROTO_OUTPUT:
		if (len < 8) {
			sc_finish(EXIT_ERROR, 1, "persh: malformed output from the daemon\n");
			return;
		}
		sc_out(data + 8, len - 8);
		break;
	case PROTO_SKIPPED:
		break; /* the client could not keep up; the REDRAW after it repaints */
	case PROTO_REDRAW:
		sc_out(data, len);
		break;
	case PROTO_EXIT:
		if (len != 4) {
			sc_finish(EXIT_ERROR, 1, "persh: malformed exit status\n");
			return;
		}
		sc.exit_ack = 1;
		sc_finish_attach((int)get32(data), "[persh: session %s exited with status %u]", sc.name,
		    get32(data));
		break;
	case PROTO_DETACHED:
		if (proto_text_decode(data, len, &t) == -1)
			t.code = 0;
		if (t.code == PROTO_R_REQUESTED || t.code == PROTO_R_COMMAND)
			sc_finish_attach(EXIT_OK, "[persh: detached from %s]", sc.name);
		else
			sc_finish_attach(EXIT_ERROR, "[persh: dropped from %s: %s]", sc.name,
			    proto_reason_text(t.code));
		break;
	default:
		sc_finish(EXIT_ERROR, 1, "persh: unexpected frame %u from the daemon\n", type);
		break;
	}
}

/* Frames from the supervisor answering ls, kill or detach. */
static void
sc_ctl_frame(uint16_t type, const uint8_t *data, uint32_t len)
{
	struct proto_session row;

	if (sc.mode == SC_LS && type == PROTO_SESSION) {
		if (proto_session_decode(data, len, &row) == 0)
			ctl_ls_row(&row, &sc.ls);
	} else if (sc.mode == SC_LS && type == PROTO_STATS) {
		ctl_ls_stats(&sc.ls, data, len);
	} else if (type == PROTO_OK) {
		if (sc.mode == SC_LS) {
			ctl_ls_end(&sc.ls, 1);
			fclose(sc.ls_fp);
			sc.ls_fp = NULL;
			sc_text(sc.out, sc.ls_buf);
		}
		sc_finish(EXIT_OK, 0, NULL);
	} else {
		sc_finish(EXIT_ERROR, 1, "persh: unexpected frame %u from the daemon\n", type);
	}
}

/* One frame from the supervisor. */
static void
sc_frame(struct peer *p, void *arg, uint16_t type, const uint8_t *data, uint32_t len)
{
	struct proto_hello h;
	struct proto_text t;

	(void)p;
	(void)arg;
	if (sc.finishing)
		return;
	if (sc.mode == SC_BRIDGE) {
		uint8_t hdr[PROTO_HEADER_LEN];

		proto_header_encode(hdr, type, len);
		sc_out(hdr, sizeof hdr);
		sc_out(data, len);
	} else if (type == PROTO_HELLO) {
		if (proto_hello_decode(data, len, &h) == 0 && h.hb_timeout_ms / 3 > 0 &&
		    h.hb_timeout_ms / 3 < sc.hb_every)
			sc.hb_every = h.hb_timeout_ms / 3 > 50 ? h.hb_timeout_ms / 3 : 50;
	} else if (type == PROTO_HEARTBEAT) {
		/* nothing: fd 4 closing is how we learn the supervisor is gone */
	} else if (type == PROTO_ERROR) {
		if (proto_text_decode(data, len, &t) == -1)
			snprintf(t.text, sizeof t.text, "error from the daemon");
		if (sc.mode == SC_LS) {
			ctl_ls_end(&sc.ls, 0);
			fclose(sc.ls_fp);
			sc.ls_fp = NULL;
			sc_text(sc.out, sc.ls_buf);
		}
		sc_finish(EXIT_ERROR, 1, "persh: %s\n", t.text[0] ? t.text : proto_error_text(t.code));
	} else if (sc.mode == SC_ATTACH) {
		sc_attach_frame(type, data, len);
	} else if (sc.mode == SC_LS || sc.mode == SC_KILL || sc.mode == SC_DETACH) {
		sc_ctl_frame(type, data, len);
	} else {
		sc_finish(EXIT_ERROR, 1, "persh: unexpected frame %u from the daemon\n", type);
	}
	sc_hold(0);
	sc_kick();
}

/* fd 4's queue went down: pass on more of the client's input. */
static void
sc_peer_drain(struct peer *p, void *arg)
{
	(void)p;
	(void)arg;
	sc_kick();
}

/* The supervisor closed fd 4 (after an exit status or a detach, that is
 * expected) or it failed. */
static void
sc_peer_error(struct peer *p, void *arg, const char *reason)
{
	(void)arg;
	peer_free(p);
	sc.sup = NULL;
	loop_timer_set(sc.heartbeat, -1);
	if (sc.finishing) {
		/* expected: it answered and let go */
	} else if (sc.mode == SC_BRIDGE) {
		sc_finish(EXIT_OK, 0, NULL);
	} else if (sc.mode != SC_IDLE) {
		sc_finish(EXIT_ERROR, 1, "persh: lost the daemon (%s)\n", reason);
	} else if (!sc.requested) {
		log_info("ssh %s: the daemon closed the connection", sc.peer);
		sc.quit = 1;
	} /* else sc_start, about to run, says so */
	sc_kick();
}

/* Client input as an attached client: keystrokes up to the detach key. */
static size_t
sc_deliver_attach(const uint8_t *p, size_t avail)
{
	size_t used = 0;

	if (sc.sup == NULL || sc.detaching)
		return avail;
	if (!sc.attached)
		return 0;
	while (used < avail && peer_queued(sc.sup) < SC_IN_HIWAT) {
		size_t n = avail - used;
		const uint8_t *key;

		if (n > PROTO_MAX_DATA)
			n = PROTO_MAX_DATA;
		key = cfg->client_detach_key >= 0 ? memchr(p + used, cfg->client_detach_key, n) : NULL;
		if (key != NULL)
			n = (size_t)(key - (p + used));
		if (n > 0 && !sc.readonly)
			sc_send(PROTO_INPUT, p + used, n);
		used += n;
		if (key != NULL) {
			sc.detaching = 1;
			sc_send(PROTO_DETACH, NULL, 0);
			return avail;
		}
	}
	return used;
}

/* Client input in bridge mode: whole frames, passed on as they are. */
static size_t
sc_deliver_bridge(const uint8_t *p, size_t avail, int all)
{
	size_t used = 0;

	if (sc.sup == NULL)
		return avail;
	while (avail - used >= PROTO_HEADER_LEN && (all || peer_queued(sc.sup) < SC_IN_HIWAT)) {
		uint16_t type;
		uint32_t len;

		if (proto_header_decode(p + used, &type, &len) == -1) {
			log_warn("ssh %s: bridge: malformed frame header from the client", sc.peer);
			sc_finish(EXIT_ERROR, 1, "persh: protocol error: malformed frame header\n");
			return avail;
		}
		if (avail - used < PROTO_HEADER_LEN + len)
			break;
		sc_send(type, p + used + PROTO_HEADER_LEN, len);
		sc_spoke();
		used += PROTO_HEADER_LEN + len;
	}
	return used;
}

/* Pass on what we hold of the client's input; 1 if some was used. */
int
sc_deliver(int all)
{
	size_t avail = sc.in_len - sc.in_off, used;
	const uint8_t *p = sc.in + sc.in_off;

	if (avail == 0)
		return 0;
	if (sc.finishing)
		used = avail; /* nobody reads it any more */
	else if (sc.mode == SC_IDLE)
		used = 0; /* held until the command starts */
	else if (sc.mode == SC_ATTACH)
		used = sc_deliver_attach(p, avail);
	else if (sc.mode == SC_BRIDGE)
		used = sc_deliver_bridge(p, avail, all);
	else
		used = avail; /* ls, kill, detach read no input */
	sc.in_off += used;
	if (sc.in_off == sc.in_len)
		sc.in_off = sc.in_len = 0;
	return used > 0;
}

/* The client's terminal changed size. */
void
sc_resized(void)
{
	uint8_t buf[4];

	if (sc.mode == SC_ATTACH && sc.attached && !sc.finishing) {
		put16(buf, sc.rows);
		put16(buf + 2, sc.cols);
		sc_send(PROTO_RESIZE, buf, sizeof buf);
	}
}

/* fd 4, at start. The supervisor says nothing until we do, but we read it
 * from the start to notice it closing. */
void
sc_cmd_setup(void)
{
	sc.heartbeat = loop_timer_new(sc_heartbeat, NULL);
	sc.sup = peer_new(4, &sc_peer_cbs, NULL);
}

/* After the loop. */
void
sc_cmd_cleanup(void)
{
	if (sc.sup != NULL)
		peer_free(sc.sup);
	sc.sup = NULL;
	loop_event_free(sc.heartbeat);
	if (sc.ls_fp != NULL)
		fclose(sc.ls_fp);
	free(sc.ls_buf);
}
