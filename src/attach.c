/* `persh attach`: the interactive client, relaying a terminal to a session.
 *
 * The client never blocks either: terminal output is queued and written as
 * the terminal takes it, and while that queue is long the daemon's socket is
 * not read, which pushes back on the daemon (which then paces the shell, or
 * drops us if we stop draining entirely). */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "dial.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "proto.h"
#include "tty.h"
#include "util.h"

/* Terminal output queued past this stops reading the daemon. */
#define ATTACH_OUT_MAX (1024 * 1024)

struct attach {
	const char *name;
	int readonly;
	struct peer *peer;
	struct event *in_ev, *out_ev, *hb_timer;
	struct evbuffer *out;
	int out_fl;        /* stdout's flags before we made it non-blocking */
	int writing;       /* out_ev armed */
	int attached;      /* ATTACHED seen */
	int detaching;     /* DETACH sent */
	uint64_t offset;   /* next output byte expected */
	int64_t last_rx;   /* monotonic ms */
	int64_t hb_every;  /* ms between our heartbeats */
	int status;        /* exit status decided */
	char msg[320];     /* printed after the terminal is restored */
};

static struct attach at;

/* Leave the loop with an exit status and a message for after restore. */
static void
attach_finish(int status, const char *fmt, ...) PRINTFLIKE(2, 3);
static void
attach_finish(int status, const char *fmt, ...)
{
	va_list ap;

	at.status = status;
	va_start(ap, fmt);
	vsnprintf(at.msg, sizeof at.msg, fmt, ap);
	va_end(ap);
	loop_exit();
}

/* Write queued terminal output; arm the write event only while some is left. */
static void
attach_flush(void)
{
	int n = evbuffer_write(at.out, STDOUT_FILENO);

	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		attach_finish(EXIT_ERROR, "persh: cannot write to the terminal: %s", strerror(errno));
		return;
	}
	if (evbuffer_get_length(at.out) > 0 && !at.writing) {
		event_add(at.out_ev, NULL);
		at.writing = 1;
	} else if (evbuffer_get_length(at.out) == 0 && at.writing) {
		event_del(at.out_ev);
		at.writing = 0;
	}
	if (evbuffer_get_length(at.out) < ATTACH_OUT_MAX / 2)
		peer_pause(at.peer, 0);
}

/* The terminal can take more output. */
static void
attach_out_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	attach_flush();
}

/* Keystrokes: forward them, up to the detach key. */
static void
attach_in_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t buf[16384];
	ssize_t n;
	size_t len;
	uint8_t *key;

	(void)what;
	(void)arg;
	n = read(fd, buf, sizeof buf);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		attach_finish(EXIT_ERROR, "persh: the terminal went away");
		return;
	}
	if (n < 0)
		return;
	len = (size_t)n;
	key = cfg->client_detach_key >= 0 ? memchr(buf, cfg->client_detach_key, len) : NULL;
	if (key != NULL)
		len = (size_t)(key - buf);
	if (len > 0 && !at.readonly)
		peer_send(at.peer, PROTO_INPUT, buf, len, NULL, 0);
	if (key != NULL && !at.detaching) {
		at.detaching = 1;
		event_del(at.in_ev);
		peer_send(at.peer, PROTO_DETACH, NULL, 0, NULL, 0);
	}
}

/* The terminal changed size: tell the session. */
static void
attach_sigwinch(void *arg)
{
	uint16_t rows, cols;
	uint8_t buf[4];

	(void)arg;
	if (!at.attached)
		return;
	tty_size(STDIN_FILENO, &rows, &cols);
	put16(buf, rows);
	put16(buf + 2, cols);
	peer_send(at.peer, PROTO_RESIZE, buf, sizeof buf, NULL, 0);
}

/* SIGTERM, SIGHUP, SIGINT: leave cleanly; the session stays. */
static void
attach_sigterm(void *arg)
{
	(void)arg;
	attach_finish(EXIT_ERROR, "persh: terminated; session %s is still running", at.name);
}

/* Say we are alive; give up on a daemon silent past the timeout. */
static void
attach_heartbeat(void *arg)
{
	uint8_t zero[8] = { 0 };

	(void)arg;
	if (now_ms() - at.last_rx > cfg->heartbeat_timeout) {
		attach_finish(EXIT_UNREACHABLE, "persh: the daemon stopped answering (heartbeat_timeout)");
		return;
	}
	peer_send(at.peer, PROTO_HEARTBEAT, zero, sizeof zero, NULL, 0);
	loop_timer_set(at.hb_timer, at.hb_every);
}

/* The session is ours: go raw and start relaying. */
static void
attach_attached(const uint8_t *p, uint32_t len)
{
	struct proto_attached a;

	if (proto_attached_decode(p, len, &a) == -1) {
		attach_finish(EXIT_ERROR, "persh: malformed answer from the daemon");
		return;
	}
	at.attached = 1;
	at.offset = a.offset;
	if (tty_raw(STDIN_FILENO) == -1) {
		attach_finish(EXIT_ERROR, "persh: cannot set up the terminal: %s", strerror(errno));
		return;
	}
	at.out_fl = fcntl(STDOUT_FILENO, F_GETFL);
	fd_set_nonblock(STDIN_FILENO, 1);
	fd_set_nonblock(STDOUT_FILENO, 1);
	event_add(at.in_ev, NULL);
	/* The terminal may have changed size while we were connecting. */
	attach_sigwinch(NULL);
}

/* One frame from the daemon. */
static void
attach_frame(struct peer *p, void *arg, uint16_t type, const uint8_t *data, uint32_t len)
{
	struct proto_text t;
	struct proto_hello h;

	(void)p;
	(void)arg;
	at.last_rx = now_ms();
	switch (type) {
	case PROTO_HELLO:
		if (proto_hello_decode(data, len, &h) == 0 && h.hb_timeout_ms > 0 &&
		    h.hb_timeout_ms / 3 < at.hb_every)
			at.hb_every = h.hb_timeout_ms / 3 > 50 ? h.hb_timeout_ms / 3 : 50;
		break;
	case PROTO_HEARTBEAT:
		break;
	case PROTO_ATTACHED:
		attach_attached(data, len);
		break;
	case PROTO_OUTPUT:
		if (len < 8 || get64(data) != at.offset) {
			attach_finish(EXIT_ERROR, "persh: output out of order from the daemon");
			return;
		}
		evbuffer_add(at.out, data + 8, len - 8);
		at.offset += len - 8;
		attach_flush();
		if (evbuffer_get_length(at.out) >= ATTACH_OUT_MAX)
			peer_pause(at.peer, 1);
		break;
	case PROTO_REDRAW:
		evbuffer_add(at.out, data, len);
		attach_flush();
		break;
	case PROTO_EXIT:
		if (len != 4) {
			attach_finish(EXIT_ERROR, "persh: malformed exit status");
			return;
		}
		attach_finish((int)(get32(data) & 0xff), "[persh: session %s exited with status %u]",
		    at.name, get32(data));
		break;
	case PROTO_DETACHED:
		if (proto_text_decode(data, len, &t) == -1)
			t.code = 0;
		if (t.code == PROTO_R_REQUESTED || t.code == PROTO_R_COMMAND)
			attach_finish(EXIT_OK, "[persh: detached from %s]", at.name);
		else
			attach_finish(EXIT_ERROR, "[persh: dropped from %s: %s]", at.name,
			    proto_reason_text(t.code));
		break;
	case PROTO_ERROR:
		if (proto_text_decode(data, len, &t) == -1)
			attach_finish(EXIT_ERROR, "persh: error from the daemon");
		else
			attach_finish(EXIT_ERROR, "persh: %s",
			    t.text[0] ? t.text : proto_error_text(t.code));
		break;
	default:
		attach_finish(EXIT_ERROR, "persh: unexpected frame %u from the daemon", type);
		break;
	}
}

/* The daemon's socket closed or failed. */
static void
attach_error(struct peer *p, void *arg, const char *reason)
{
	(void)p;
	(void)arg;
	attach_finish(EXIT_UNREACHABLE, "persh: lost the daemon (%s)", reason);
}

static const struct peer_cbs attach_cbs = {
	.frame = attach_frame,
	.error = attach_error,
};

/* Write what is left for the terminal, blocking: we are leaving. Then undo
 * what the session's applications may have set in our terminal (alternate
 * screen, mouse and key modes, scroll region, hidden cursor, colours), so
 * the shell we return to works, and put the cursor on the last line. */
static void
attach_drain_out(void)
{
	uint16_t rows, cols;
	char reset[160];

	tty_size(STDIN_FILENO, &rows, &cols);
	snprintf(reset, sizeof reset,
	    "\033[?1049l\033[?1000l\033[?1002l\033[?1003l\033[?1004l\033[?1005l\033[?1006l"
	    "\033[?1015l\033[?2004l\033[?1l\033>\033[r\033[0m\033[?25h\033[%u;1H",
	    (unsigned)rows);
	evbuffer_add(at.out, reset, strlen(reset));
	fcntl(STDOUT_FILENO, F_SETFL, at.out_fl);
	while (evbuffer_get_length(at.out) > 0)
		if (evbuffer_write(at.out, STDOUT_FILENO) <= 0 && errno != EINTR)
			break;
}

/* Send ATTACH for name with our terminal's size and TERM. */
static int
attach_request(int fd, const char *name, uint32_t flags)
{
	struct proto_attach a;
	const char *term = getenv("TERM");
	uint8_t buf[PROTO_MAX_PAYLOAD];

	memset(&a, 0, sizeof a);
	tty_size(STDIN_FILENO, &a.rows, &a.cols);
	a.flags = flags;
	snprintf(a.name, sizeof a.name, "%s", name);
	snprintf(a.term, sizeof a.term, "%s", term != NULL ? term : "");
	return dial_write_frame(fd, PROTO_ATTACH, buf, proto_attach_encode(buf, &a));
}

/* attach -d: create the session if missing, without staying attached. A
 * failed write is not reported as such: the daemon's answer (an ERROR, or
 * its closing) says what happened. */
static int
attach_detached(int fd, const char *name)
{
	uint8_t buf[PROTO_MAX_PAYLOAD];
	int64_t deadline = now_ms() + cfg->heartbeat_timeout;
	struct proto_text t;
	char err[256];
	uint16_t type;
	uint32_t len;

	(void)attach_request(fd, name, PROTO_ATTACH_CREATE);
	for (;;) {
		if (dial_read_frame(fd, deadline, &type, buf, &len, err, sizeof err) == -1) {
			fprintf(stderr, "persh: %s\n", err);
			return EXIT_UNREACHABLE;
		}
		switch (type) {
		case PROTO_ATTACHED:
			(void)dial_write_frame(fd, PROTO_DETACH, NULL, 0);
			break;
		case PROTO_DETACHED:
		case PROTO_EXIT: /* it had already ended: its status is seen now */
			return EXIT_OK;
		case PROTO_ERROR:
			if (proto_text_decode(buf, len, &t) == -1)
				snprintf(t.text, sizeof t.text, "error from the daemon");
			fprintf(stderr, "persh: %s\n", t.text[0] ? t.text : proto_error_text(t.code));
			return EXIT_ERROR;
		default:
			break; /* HELLO, OUTPUT, HEARTBEAT */
		}
	}
}

/* persh attach [-r] [-d] [NAME] */
int
cmd_attach(int argc, char **argv)
{
	const char *path = NULL, *cfgpath;
	int c, detached = 0, unreachable, fd, rc;
	struct event *sigs[5];
	char err[512];

	optind = 1;
	while ((c = getopt(argc, argv, "+c:rdh")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'r':
			at.readonly = 1;
			break;
		case 'd':
			detached = 1;
			break;
		default:
			fprintf(stderr, "usage: persh attach [-r] [-d] [NAME]\n");
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "usage: persh attach [-r] [-d] [NAME]\n");
		return EXIT_USAGE;
	}
	cfgpath = cmd_config(path);
	at.name = optind < argc ? argv[optind] : cfg->session_default;
	if ((rc = cmd_check_name(at.name)) != 0)
		return rc;
	if (!detached && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "persh: attach needs a terminal on stdin and stdout\n");
		return EXIT_USAGE;
	}
	fd = dial_daemon(cfgpath, 1, &unreachable, err, sizeof err);
	if (fd == -1) {
		fprintf(stderr, "persh: %s\n", err);
		return unreachable ? EXIT_UNREACHABLE : EXIT_ERROR;
	}
	if (detached) {
		rc = attach_detached(fd, at.name);
		close(fd);
		return rc;
	}
	/* If this write fails, the loop below reads why (ERROR) or sees EOF. */
	(void)attach_request(fd, at.name,
	    PROTO_ATTACH_CREATE | (at.readonly ? PROTO_ATTACH_READONLY : 0));

	if (loop_init() == NULL)
		fatal(EXIT_ERROR, "cannot create the event loop");
	at.status = EXIT_ERROR;
	at.out = evbuffer_new();
	at.peer = peer_new(fd, &attach_cbs, NULL);
	at.in_ev = event_new(loop_base(), STDIN_FILENO, EV_READ | EV_PERSIST, attach_in_cb, NULL);
	at.out_ev = event_new(loop_base(), STDOUT_FILENO, EV_WRITE | EV_PERSIST, attach_out_cb, NULL);
	at.hb_timer = loop_timer_new(attach_heartbeat, NULL);
	at.hb_every = cfg->heartbeat_interval;
	at.last_rx = now_ms();
	loop_timer_set(at.hb_timer, at.hb_every);
	sigs[0] = loop_signal(SIGWINCH, attach_sigwinch, NULL);
	sigs[1] = loop_signal(SIGTERM, attach_sigterm, NULL);
	sigs[2] = loop_signal(SIGHUP, attach_sigterm, NULL);
	sigs[3] = loop_signal(SIGINT, attach_sigterm, NULL);
	sigs[4] = NULL;

	loop_run();

	if (at.attached)
		attach_drain_out();
	tty_restore();
	if (at.msg[0] != '\0')
		fprintf(stderr, "%s%s\n", at.attached ? "\r\n" : "", at.msg);
	peer_free(at.peer);
	event_free(at.in_ev);
	event_free(at.out_ev);
	loop_event_free(at.hb_timer);
	for (int i = 0; sigs[i] != NULL; i++)
		loop_event_free(sigs[i]);
	loop_done();
	evbuffer_free(at.out);
	return at.status;
}
