/* `persh attach`: the interactive client, relaying a terminal to a session,
 * on this host (the control socket) or on another (an SSH link, see
 * sshlink.c), and surviving the death of that link.
 *
 * The client never blocks: terminal output is queued and written as the
 * terminal takes it, and while that queue is long the link is not read,
 * which pushes back on the daemon (which then paces the shell, or drops us
 * if we stop draining entirely). A remote link that dies (no frame for the
 * heartbeat timeout, or the link child gone) is replaced after a backoff
 * with full jitter; the new attach asks for output from the next offset we
 * lack, so nothing is lost or repeated while the ring still holds it. The
 * detach key works all along, connected or not. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backoff.h"
#include "cmd.h"
#include "config.h"
#include "dial.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "proto.h"
#include "sshlink.h"
#include "tty.h"
#include "util.h"

/* Terminal output queued past this stops reading the link. */
#define ATTACH_OUT_MAX (1024 * 1024)
/* Keystrokes held while the link is down; more are dropped (with a bell). */
#define ATTACH_HELD_MAX (64 * 1024)

struct attach {
	const char *name;
	int readonly;
	int remote;
	struct sshlink_target target;
	int reconnect;
	int64_t max_delay;

	struct peer *peer;  /* the current link, or NULL while down */
	pid_t link_pid;     /* its child, for a remote link */
	int link_err;       /* the child's message pipe */
	struct event *in_ev, *out_ev, *hb_timer, *retry_timer, *status_timer;
	struct evbuffer *out, *held;
	struct backoff *backoff;
	int out_fl;          /* stdout's flags before we made it non-blocking */
	int writing;         /* out_ev armed */
	int raw;             /* the terminal is ours */
	int connected;       /* ATTACHED seen on the current link */
	int link_up;         /* a frame came on the current link: the heartbeat
	                        clock runs (not while connecting, authenticating,
	                        or asking about a host key) */
	int status_shown;    /* the status line was drawn over the session */
	int ever;            /* ATTACHED seen once: later losses are retried */
	int detaching;       /* DETACH sent */
	uint64_t offset;     /* next output byte expected */
	int64_t last_rx;     /* monotonic ms */
	int64_t last_tx;     /* monotonic ms of our last heartbeat */
	int64_t hb_every;    /* ms between our heartbeats */
	int64_t down_since;  /* monotonic ms the link was lost, or -1 */
	unsigned attempts;   /* since the loss */
	int status;          /* exit status decided */
	char msg[600];       /* printed after the terminal is restored */
};

static struct attach at;

static void attach_link_open(void);
static void attach_link_lost(const char *why);

/* Leave the loop with an exit status and a message for after restore. */
static void attach_finish(int status, const char *fmt, ...) PRINTFLIKE(2, 3);
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
	/* evbuffer_write on an empty buffer returns -1 with a stale errno. */
	int n = evbuffer_get_length(at.out) > 0 ? evbuffer_write(at.out, STDOUT_FILENO) : 0;

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
	if (at.peer != NULL && evbuffer_get_length(at.out) < ATTACH_OUT_MAX / 2)
		peer_pause(at.peer, 0);
}

/* Queue bytes for the terminal. */
static void
attach_write(const void *buf, size_t len)
{
	evbuffer_add(at.out, buf, len);
	attach_flush();
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

/* Draw (msg) or erase (NULL) the status line on the terminal's last row,
 * leaving the cursor and pen where the session had them. */
static void
attach_status_line(const char *msg)
{
	uint16_t rows, cols;
	char buf[300];

	if (!at.raw)
		return;
	tty_size(STDIN_FILENO, &rows, &cols);
	if (msg != NULL) {
		snprintf(buf, sizeof buf, "\0337\033[%u;1H\033[0;7m%.*s\033[0m\033[K\0338", rows,
		    (int)(cols > 1 ? cols - 1 : 1), msg);
		at.status_shown = 1;
	} else {
		snprintf(buf, sizeof buf, "\0337\033[%u;1H\033[0m\033[K\0338", rows);
	}
	attach_write(buf, strlen(buf));
}

/* While down, say so once a second. */
static void
attach_status_tick(void *arg)
{
	char msg[160];

	(void)arg;
	if (at.connected || at.down_since < 0)
		return;
	snprintf(msg, sizeof msg, "persh: link lost %llds ago, reconnecting (attempt %u)...",
	    (long long)((now_ms() - at.down_since) / 1000), at.attempts + 1);
	attach_status_line(msg);
	loop_timer_set(at.status_timer, 1000);
}

/* Keystrokes: forward them (or hold them while down), up to the detach key. */
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
	if (len > 0 && !at.readonly) {
		if (at.connected) {
			peer_send(at.peer, PROTO_INPUT, buf, len, NULL, 0);
		} else if (evbuffer_get_length(at.held) + len <= ATTACH_HELD_MAX) {
			evbuffer_add(at.held, buf, len);
		} else {
			attach_write("\a", 1);
		}
	}
	if (key != NULL && !at.detaching) {
		at.detaching = 1;
		event_del(at.in_ev);
		if (!at.connected) {
			/* Nothing to tell: the session stays as the daemon sees it. */
			attach_finish(EXIT_OK, "[persh: detached from %s while the link was down]",
			    at.name);
			return;
		}
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
	if (!at.connected)
		return; /* the next ATTACH carries the size */
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

/* Say we are alive; a link silent past the timeout is dead. The timer
 * fires at the next heartbeat or at the deadline, whichever comes first,
 * so a dead link is noticed within the timeout, not a tick later. */
static void
attach_heartbeat(void *arg)
{
	uint8_t zero[8] = { 0 };
	int64_t now = now_ms(), silent = now - at.last_rx, next = at.hb_every;

	(void)arg;
	if (at.peer == NULL)
		return;
	if (at.link_up) {
		if (silent >= cfg->heartbeat_timeout) {
			attach_link_lost("no heartbeat from the daemon (heartbeat_timeout)");
			return;
		}
		if (cfg->heartbeat_timeout - silent < next)
			next = cfg->heartbeat_timeout - silent;
	}
	if (now - at.last_tx >= at.hb_every) {
		peer_send(at.peer, PROTO_HEARTBEAT, zero, sizeof zero, NULL, 0);
		at.last_tx = now;
	} else if (at.hb_every - (now - at.last_tx) < next) {
		next = at.hb_every - (now - at.last_tx);
	}
	loop_timer_set(at.hb_timer, next > 1 ? next : 1);
}

/* Take over the terminal: raw mode, non-blocking, keystrokes read. */
static int
attach_take_terminal(void)
{
	if (tty_raw(STDIN_FILENO) == -1)
		return -1;
	at.raw = 1;
	at.out_fl = fcntl(STDOUT_FILENO, F_GETFL);
	fd_set_nonblock(STDIN_FILENO, 1);
	fd_set_nonblock(STDOUT_FILENO, 1);
	event_add(at.in_ev, NULL);
	return 0;
}

/* ATTACHED: the session is ours (again). */
static void
attach_attached(const uint8_t *p, uint32_t len)
{
	struct proto_attached a;

	if (proto_attached_decode(p, len, &a) == -1) {
		attach_link_lost("malformed answer from the daemon");
		return;
	}
	if (!at.ever && attach_take_terminal() == -1) {
		attach_finish(EXIT_ERROR, "persh: cannot set up the terminal: %s", strerror(errno));
		return;
	}
	if (at.down_since >= 0) {
		log_debug("attach: back after %lld ms, %u attempts, %s from offset %llu",
		    (long long)(now_ms() - at.down_since), at.attempts,
		    (a.flags & PROTO_ATTACHED_RESUMED) ? "resumed" : "redrawn",
		    (unsigned long long)a.offset);
		attach_status_line(NULL);
	}
	at.status_shown = 0;
	at.connected = 1;
	at.ever = 1;
	at.offset = a.offset;
	at.down_since = -1;
	at.attempts = 0;
	backoff_reset(at.backoff);
	loop_timer_set(at.status_timer, -1);
	/* Keystrokes typed while down, in order. */
	while (evbuffer_get_length(at.held) > 0) {
		size_t n = evbuffer_get_length(at.held);

		if (n > PROTO_MAX_DATA)
			n = PROTO_MAX_DATA;
		peer_send(at.peer, PROTO_INPUT, evbuffer_pullup(at.held, (ssize_t)n), n, NULL, 0);
		evbuffer_drain(at.held, n);
	}
	/* The terminal may have changed size while we were away. */
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
	at.link_up = 1;
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
			attach_link_lost("output out of order from the daemon");
			return;
		}
		at.offset += len - 8;
		attach_write(data + 8, len - 8);
		if (at.peer != NULL && evbuffer_get_length(at.out) >= ATTACH_OUT_MAX)
			peer_pause(at.peer, 1);
		break;
	case PROTO_SKIPPED:
		/* Too slow for the output: the REDRAW that follows shows the screen
		 * as of the new offset, which a resume then asks for. */
		if (len != 8 || get64(data) < at.offset) {
			attach_link_lost("malformed skip from the daemon");
			return;
		}
		log_debug("attach: skipped %llu bytes of output (too slow); repainted",
		    (unsigned long long)(get64(data) - at.offset));
		at.offset = get64(data);
		break;
	case PROTO_REDRAW:
		attach_write(data, len);
		break;
	case PROTO_EXIT:
		if (len != 4) {
			attach_link_lost("malformed exit status");
			return;
		}
		/* Until we say we have it, the daemon keeps the status for us. */
		peer_send(at.peer, PROTO_EXIT_SEEN, NULL, 0, NULL, 0);
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
		if (proto_text_decode(data, len, &t) == -1) {
			attach_finish(EXIT_ERROR, "persh: error from the daemon");
		} else if (t.code == PROTO_E_NOSESSION && at.ever) {
			attach_finish(EXIT_ERROR, "persh: session %s no longer exists", at.name);
		} else {
			attach_finish(EXIT_ERROR, "persh: %s",
			    t.text[0] ? t.text : proto_error_text(t.code));
		}
		break;
	default:
		attach_link_lost("unexpected frame from the daemon");
		break;
	}
}

/* The link closed or failed. */
static void
attach_error(struct peer *p, void *arg, const char *reason)
{
	(void)p;
	(void)arg;
	attach_link_lost(strcmp(reason, "eof") == 0 ? "connection closed" : reason);
}

static const struct peer_cbs attach_cbs = {
	.frame = attach_frame,
	.error = attach_error,
};

/* Send HELLO and ATTACH on the new link: the first attach may create the
 * session; later ones resume it from the next offset we lack, and must
 * not create a new one behind the user's back. */
static void
attach_request(void)
{
	struct proto_hello h = { .magic = PROTO_MAGIC, .version = PROTO_VERSION };
	struct proto_attach a;
	const char *term = getenv("TERM");
	uint8_t buf[PROTO_MAX_PAYLOAD];

	if (at.remote) {
		h.hb_timeout_ms = (uint32_t)cfg->heartbeat_timeout;
		h.pid = (uint32_t)getpid();
		peer_send(at.peer, PROTO_HELLO, buf, proto_hello_encode(buf, &h), NULL, 0);
	}
	memset(&a, 0, sizeof a);
	tty_size(STDIN_FILENO, &a.rows, &a.cols);
	a.flags = at.readonly ? PROTO_ATTACH_READONLY : 0;
	if (at.ever) {
		a.flags |= PROTO_ATTACH_RESUME;
		/* Our status line covered a row: have the screen repainted once
		 * the missed output is through. */
		if (at.status_shown)
			a.flags |= PROTO_ATTACH_REPAINT;
		a.offset = at.offset;
	} else {
		a.flags |= PROTO_ATTACH_CREATE;
	}
	snprintf(a.name, sizeof a.name, "%s", at.name);
	snprintf(a.term, sizeof a.term, "%s", term != NULL ? term : "");
	peer_send(at.peer, PROTO_ATTACH, buf, proto_attach_encode(buf, &a), NULL, 0);
}

/* Open a link: the control socket here, or an SSH link child. */
static void
attach_link_open(void)
{
	char err[512];
	int fd, unreachable;

	at.attempts++;
	at.connected = 0;
	at.link_up = 0;
	at.last_rx = at.last_tx = now_ms();
	if (at.remote) {
		at.target.may_ask = !at.ever;
		at.link_pid = sshlink_start(&at.target, &fd, &at.link_err);
		if (at.link_pid == -1) {
			attach_finish(EXIT_ERROR, "persh: cannot start the link: %s", strerror(errno));
			return;
		}
	} else {
		fd = dial_daemon(NULL, 0, 1, &unreachable, err, sizeof err);
		if (fd == -1) {
			attach_finish(unreachable ? EXIT_UNREACHABLE : EXIT_ERROR, "persh: %s", err);
			return;
		}
	}
	at.peer = peer_new(fd, &attach_cbs, NULL);
	attach_request();
	loop_timer_set(at.hb_timer, at.hb_every);
}

/* Reap the link child and read why it ended. A dead link's child is
 * ended at once; on our way out (gently) it is only told by EOF, so that
 * it can deliver our last frames, and given a moment to. */
static int
attach_link_reap(char *why, size_t len, int gently)
{
	int status = 0, code;
	int64_t until = now_ms() + 1000;
	ssize_t n;

	if (at.link_pid <= 0)
		return SSHLINK_LOST;
	if (gently) {
		while (waitpid(at.link_pid, &status, WNOHANG) == 0 && now_ms() < until)
			poll(NULL, 0, 10); /* our own child finishing its writes */
		if (waitpid(at.link_pid, &status, WNOHANG) == 0)
			kill(at.link_pid, SIGTERM);
		else
			goto reaped;
	} else {
		kill(at.link_pid, SIGTERM);
	}
	while (waitpid(at.link_pid, &status, 0) == -1 && errno == EINTR)
		;
reaped:
	at.link_pid = -1;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : SSHLINK_LOST;
	n = read(at.link_err, why, len - 1);
	why[n > 0 ? n : 0] = '\0';
	close(at.link_err);
	at.link_err = -1;
	return code;
}

/* Try again once the backoff delay has passed. */
static void
attach_retry(void *arg)
{
	(void)arg;
	attach_link_open();
}

/* The link is gone: give up (first connection, a fatal cause, a local
 * daemon, --no-reconnect) or wait and try again. */
static void
attach_link_lost(const char *why)
{
	char child[512] = "";
	int code = SSHLINK_LOST;
	int64_t delay;

	if (at.peer == NULL)
		return;
	peer_free(at.peer);
	at.peer = NULL;
	at.connected = 0;
	loop_timer_set(at.hb_timer, -1);
	if (at.remote)
		code = attach_link_reap(child, sizeof child, 0);
	if (child[0] != '\0')
		why = child;
	log_debug("attach: link closed (%s), child exit %d", why, code);
	if (at.remote && !sshlink_retriable(code)) {
		attach_finish(code == SSHLINK_AUTH || code == SSHLINK_HOSTKEY ? EXIT_AUTH : EXIT_ERROR,
		    "persh: %s", why);
		return;
	}
	if (!at.ever) {
		/* Retries are for links that worked once. */
		attach_finish(EXIT_UNREACHABLE, "persh: %s", why);
		return;
	}
	if (!at.remote || !at.reconnect) {
		attach_finish(EXIT_UNREACHABLE, "persh: link lost (%s); session %s is still running",
		    why, at.name);
		return;
	}
	if (at.down_since < 0) {
		at.down_since = now_ms();
		at.attempts = 0;
		log_debug("attach: link lost: %s", why);
	}
	delay = backoff_next(at.backoff);
	if (delay > at.max_delay)
		delay = at.max_delay;
	log_debug("attach: retry %u in %lld ms", at.attempts + 1, (long long)delay);
	loop_timer_set(at.retry_timer, delay);
	attach_status_tick(NULL);
}

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

/* attach -d: create the session if missing, without staying attached. A
 * failed write is not reported as such: the daemon's answer (an ERROR, or
 * its closing) says what happened. */
static int
attach_detached(int fd, const char *name)
{
	uint8_t buf[PROTO_MAX_PAYLOAD];
	int64_t deadline = now_ms() + cfg->heartbeat_timeout;
	struct proto_attach a;
	struct proto_text t;
	char err[256];
	uint16_t type;
	uint32_t len;

	memset(&a, 0, sizeof a);
	tty_size(STDIN_FILENO, &a.rows, &a.cols);
	a.flags = PROTO_ATTACH_CREATE;
	snprintf(a.name, sizeof a.name, "%s", name);
	snprintf(a.term, sizeof a.term, "%s", getenv("TERM") ? getenv("TERM") : "");
	(void)dial_write_frame(fd, PROTO_ATTACH, buf, proto_attach_encode(buf, &a));
	for (;;) {
		if (dial_read_frame(fd, deadline, &type, buf, &len, err, sizeof err) == -1) {
			fprintf(stderr, "persh: %s\n", err);
			return EXIT_UNREACHABLE;
		}
		switch (type) {
		case PROTO_ATTACHED:
			(void)dial_write_frame(fd, PROTO_DETACH, NULL, 0);
			break;
		case PROTO_EXIT: /* it had already ended: its status is seen now */
			(void)dial_write_frame(fd, PROTO_EXIT_SEEN, NULL, 0);
			return EXIT_OK;
		case PROTO_DETACHED:
			return EXIT_OK;
		case PROTO_ERROR:
			if (proto_text_decode(buf, len, &t) == -1)
				snprintf(t.text, sizeof t.text, "error from the daemon");
			fprintf(stderr, "persh: %s\n", t.text[0] ? t.text : proto_error_text(t.code));
			return EXIT_ERROR;
		default:
			break; /* HELLO, OUTPUT, REDRAW, HEARTBEAT */
		}
	}
}

/* Print the attach usage; returns the usage exit code. */
static int
attach_usage(void)
{
	fprintf(stderr, "usage: persh attach [-r] [-d] [--no-reconnect] [--max-reconnect-delay D] "
			"[[USER@]HOST[:PORT]/]NAME\n");
	return EXIT_USAGE;
}

/* persh attach [-r] [-d] [--no-reconnect] [--max-reconnect-delay D] [TARGET] */
int
cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "read-only", no_argument, NULL, 'r' },
		{ "no-reconnect", no_argument, NULL, 'N' },
		{ "max-reconnect-delay", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *cfgpath, *maxdelay = NULL, *arg;
	int c, detached = 0, no_reconnect = 0, unreachable, fd, rc, gently;
	struct event *sigs[5];
	char err[512];

	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:rdh", opts, NULL)) != -1) {
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
		case 'N':
			no_reconnect = 1;
			break;
		case 'M':
			maxdelay = optarg;
			break;
		default:
			return attach_usage();
		}
	}
	if (argc - optind > 1)
		return attach_usage();
	cfgpath = cmd_config(path);
	arg = optind < argc ? argv[optind] : cfg->session_default;
	at.max_delay = cfg->client_reconnect_max;
	if (maxdelay != NULL && config_parse_duration(maxdelay, &at.max_delay) == -1) {
		fprintf(stderr, "persh: bad --max-reconnect-delay '%s' (use e.g. 500ms, 5s)\n",
		    maxdelay);
		return EXIT_USAGE;
	}
	at.reconnect = cfg->client_reconnect && !no_reconnect;
	if (strchr(arg, '/') != NULL) {
		if (sshlink_parse(arg, &at.target) == -1) {
			fprintf(stderr, "persh: bad target '%.200s' (use [USER@]HOST[:PORT]/NAME)\n",
			    arg);
			return EXIT_USAGE;
		}
		at.remote = 1;
		at.name = at.target.name;
		if (detached) {
			fprintf(stderr, "persh: -d works on this host only\n");
			return EXIT_USAGE;
		}
	} else {
		at.name = arg;
	}
	if ((rc = cmd_check_name(at.name)) != 0)
		return rc;
	if (!detached && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "persh: attach needs a terminal on stdin and stdout\n");
		return EXIT_USAGE;
	}
	if (detached) {
		fd = dial_daemon(cfgpath, 1, 1, &unreachable, err, sizeof err);
		if (fd == -1) {
			fprintf(stderr, "persh: %s\n", err);
			return unreachable ? EXIT_UNREACHABLE : EXIT_ERROR;
		}
		rc = attach_detached(fd, at.name);
		close(fd);
		return rc;
	}
	if (!at.remote) {
		/* Start the daemon now, before the loop, so its start-up errors
		 * reach the terminal as they are. */
		fd = dial_daemon(cfgpath, 1, 0, &unreachable, err, sizeof err);
		if (fd == -1) {
			fprintf(stderr, "persh: %s\n", err);
			return unreachable ? EXIT_UNREACHABLE : EXIT_ERROR;
		}
		close(fd);
	}

	/* Every state change is logged at debug level, with times, when asked:
	 * the terminal itself is the session's. */
	if (getenv("PERSH_CLIENT_LOG") != NULL && getenv("PERSH_CLIENT_LOG")[0] != '\0')
		log_open(getenv("PERSH_CLIENT_LOG"), LOG_LVL_DEBUG, 0);
	if (loop_init() == NULL)
		fatal(EXIT_ERROR, "cannot create the event loop");
	at.status = EXIT_ERROR;
	at.link_pid = -1;
	at.link_err = -1;
	at.down_since = -1;
	at.out = evbuffer_new();
	at.held = evbuffer_new();
	at.backoff = backoff_new(cfg->client_reconnect_base, at.max_delay, 0);
	at.in_ev = event_new(loop_base(), STDIN_FILENO, EV_READ | EV_PERSIST, attach_in_cb, NULL);
	at.out_ev = event_new(loop_base(), STDOUT_FILENO, EV_WRITE | EV_PERSIST, attach_out_cb, NULL);
	at.hb_timer = loop_timer_new(attach_heartbeat, NULL);
	at.retry_timer = loop_timer_new(attach_retry, NULL);
	at.status_timer = loop_timer_new(attach_status_tick, NULL);
	at.hb_every = cfg->heartbeat_interval;
	sigs[0] = loop_signal(SIGWINCH, attach_sigwinch, NULL);
	sigs[1] = loop_signal(SIGTERM, attach_sigterm, NULL);
	sigs[2] = loop_signal(SIGHUP, attach_sigterm, NULL);
	sigs[3] = loop_signal(SIGINT, attach_sigterm, NULL);
	sigs[4] = NULL;
	attach_link_open();

	if (at.msg[0] == '\0' || at.peer != NULL)
		loop_run();

	if (at.raw) {
		if (at.down_since >= 0)
			attach_status_line(NULL);
		attach_drain_out();
	}
	tty_restore();
	if (at.msg[0] != '\0')
		fprintf(stderr, "%s%s\n", at.raw ? "\r\n" : "", at.msg);
	/* What we sent last is already in the socket; closing it is the link
	 * child's EOF, after which it delivers that and leaves. A child still
	 * trying to connect has nothing to deliver and is ended at once. */
	gently = at.connected;
	if (at.peer != NULL)
		peer_free(at.peer);
	event_free(at.in_ev);
	event_free(at.out_ev);
	loop_event_free(at.hb_timer);
	loop_event_free(at.retry_timer);
	loop_event_free(at.status_timer);
	for (int i = 0; sigs[i] != NULL; i++)
		loop_event_free(sigs[i]);
	loop_done();
	if (at.link_pid > 0) {
		char why[8];

		attach_link_reap(why, sizeof why, gently);
	}
	evbuffer_free(at.out);
	evbuffer_free(at.held);
	backoff_free(at.backoff);
	return at.status;
}
