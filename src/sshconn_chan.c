/* The one session channel of an SSH connection to the embedded endpoint:
 * its requests (pty-req, env, window-change, shell, exec), the bytes held
 * for it both ways, backpressure, and its end (exit-status, EOF, close).
 * What runs in it is sshconn_cmd.c's.
 *
 * Both directions are bounded:
 * - supervisor to client: we stop reading fd 4 while the channel's window
 *   is small, libssh has output pending, or we hold bytes the channel did
 *   not take; so the supervisor sees a slow client and applies its policy.
 *   No callback fires when the window reopens: sc_chan_step re-checks after
 *   every poll.
 * - client to supervisor: the data callback takes only what fits in our
 *   buffer, and we pass it on only while fd 4's queue is short; the rest
 *   stays in libssh, whose window then closes on the client. */
#include "sshconn.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <libssh/server.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "util.h"

/* Can the channel still carry output? */
static int
sc_usable(void)
{
	return sc.ch != NULL && !sc.dead && !sc.done && !sc.remote_closed && !sc.closed &&
	    ssh_channel_is_open(sc.ch);
}

/* Text for the client: with a pty, \n becomes \r\n (no line discipline of
 * ours does it). */
void
sc_text(struct evbuffer *b, const char *s)
{
	const char *nl;

	while (sc.pty && (nl = strchr(s, '\n')) != NULL) {
		evbuffer_add(b, s, (size_t)(nl - s));
		evbuffer_add(b, "\r\n", 2);
		s = nl + 1;
	}
	evbuffer_add(b, s, strlen(s));
}

/* Write to the channel what it takes now; the count taken (everything when
 * the channel is gone: there is nobody to give it to). */
static size_t
sc_write(const void *data, size_t len, int is_stderr)
{
	int n;

	if (!sc_usable())
		return len;
	if (len > PROTO_MAX_PAYLOAD)
		len = PROTO_MAX_PAYLOAD;
	n = is_stderr ? ssh_channel_write_stderr(sc.ch, data, (uint32_t)len)
		      : ssh_channel_write(sc.ch, data, (uint32_t)len);
	if (n < 0)
		return len; /* closed under us: the transport check says why */
	return (size_t)n;
}

/* Flush what we hold for the channel, stdout before stderr. */
static void
sc_flush(void)
{
	struct evbuffer *bufs[2] = { sc.out, sc.err };

	for (int i = 0; i < 2; i++) {
		struct evbuffer *b = bufs[i];

		while (evbuffer_get_length(b) > 0) {
			size_t len = evbuffer_get_length(b), n;

			if (len > 65536)
				len = 65536;
			n = sc_write(evbuffer_pullup(b, (ssize_t)len), len, i);
			evbuffer_drain(b, n);
			if (n < len)
				return;
		}
	}
}

/* Output for the client's stdout: straight to the channel if nothing is
 * held, the rest kept. */
void
sc_out(const uint8_t *data, size_t len)
{
	if (evbuffer_get_length(sc.out) == 0) {
		size_t n = sc_write(data, len, 0);

		data += n;
		len -= n;
	}
	if (len > 0)
		evbuffer_add(sc.out, data, len);
}

/* Must we stop reading the supervisor? */
static int
sc_blocked(void)
{
	if (!sc_usable())
		return 0;
	return evbuffer_get_length(sc.out) > 0 || ssh_channel_window_size(sc.ch) < SC_WINDOW_MIN ||
	    (ssh_get_poll_flags(sc.ss) & SSH_WRITE_PENDING) != 0;
}

/* Backpressure on fd 4. Only sc_chan_step resumes: resuming delivers the
 * frames already read, which must not happen inside a frame callback. */
void
sc_hold(int may_resume)
{
	if (sc.sup == NULL || sc.mode == SC_IDLE || sc.mode == SC_REFUSE)
		return;
	if (sc_blocked())
		peer_pause(sc.sup, 1);
	else if (may_resume)
		peer_pause(sc.sup, 0);
}

/* The exit status is decided: a last message, then (once the output is
 * out) exit-status, EOF and close. */
void
sc_finish(int status, int to_stderr, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	if (sc.finishing)
		return;
	sc.finishing = 1;
	sc.exit_status = status;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		sc_text(to_stderr ? sc.err : sc.out, msg);
	}
	/* A session's exit status: the supervisor keeps it until we say the
	 * client has it (sc_peer_close, once the client closed the channel). */
	if (!sc.exit_ack)
		sc_peer_close();
	loop_timer_set(sc.linger, SC_LINGER_MS);
	sc_kick();
}

/* Make room at the end of the input buffer. */
static void
sc_compact(void)
{
	if (sc.in_off == 0)
		return;
	memmove(sc.in, sc.in + sc.in_off, sc.in_len - sc.in_off);
	sc.in_len -= sc.in_off;
	sc.in_off = 0;
}

/* Client input to the supervisor, fetching what libssh still holds when
 * there is room again. */
static void
sc_pump_in(void)
{
	for (;;) {
		int progress = sc_deliver(0);

		if (sc.backlog && sc.ch != NULL && !sc.dead && sc.in_len - sc.in_off < SC_INBUF) {
			uint32_t room;
			int n;

			sc_compact();
			room = (uint32_t)(SC_INBUF - sc.in_len);
			sc.backlog = 0;
			sc.reading = 1;
			n = ssh_channel_read_nonblocking(sc.ch, sc.in + sc.in_len, room, 0);
			sc.reading = 0;
			if (n > 0) {
				sc.in_len += (size_t)n;
				progress = 1;
				/* A full read may have left more behind. */
				if ((uint32_t)n == room)
					sc.backlog = 1;
			}
		}
		if (!progress)
			break;
	}
}

/* Data from the client: take what fits; libssh keeps the rest (and keeps
 * its window closed on it) until we fetch it in sc_pump_in. */
static int
sc_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *ud)
{
	size_t n;

	(void)s;
	(void)ch;
	(void)ud;
	if (is_stderr)
		return (int)len;
	if (sc.reading) {
		/* inside our own read: it fetches the data itself */
		sc.backlog = 1;
		return 0;
	}
	if (SC_INBUF - sc.in_len < len)
		sc_compact();
	n = SC_INBUF - sc.in_len;
	if (n > len)
		n = len;
	memcpy(sc.in + sc.in_len, data, n);
	sc.in_len += n;
	if (n < len)
		sc.backlog = 1;
	sc_kick();
	return (int)n;
}

static void
sc_eof(ssh_session s, ssh_channel ch, void *ud)
{
	(void)s;
	(void)ch;
	(void)ud;
	sc.remote_eof = 1;
	sc_kick();
}

static void
sc_close(ssh_session s, ssh_channel ch, void *ud)
{
	(void)s;
	(void)ch;
	(void)ud;
	sc.remote_closed = 1;
	sc_kick();
}

/* Terminal size from the client (0 means unknown: keep what we have). */
static void
sc_size(int width, int height)
{
	if (width > 0 && width <= 65535)
		sc.cols = (uint16_t)width;
	if (height > 0 && height <= 65535)
		sc.rows = (uint16_t)height;
}

static int
sc_pty(ssh_session s, ssh_channel ch, const char *term, int width, int height, int pxw, int pxh,
    void *ud)
{
	(void)s;
	(void)ch;
	(void)pxw;
	(void)pxh;
	(void)ud;
	if (sc.requested)
		return -1;
	sc.pty = 1;
	sc_size(width, height);
	snprintf(sc.term, sizeof sc.term, "%s", term != NULL ? term : "");
	return 0;
}

static int
sc_window_change(ssh_session s, ssh_channel ch, int width, int height, int pxw, int pxh, void *ud)
{
	(void)s;
	(void)ch;
	(void)pxw;
	(void)pxh;
	(void)ud;
	sc_size(width, height);
	sc_resized();
	return 0;
}

/* Only PERSH_SESSION is taken; anything else is declined (a failure reply
 * if the client wants one, which OpenSSH only mentions with -v). */
static int
sc_env(ssh_session s, ssh_channel ch, const char *name, const char *value, void *ud)
{
	(void)s;
	(void)ch;
	(void)ud;
	if (sc.requested || name == NULL || value == NULL || strcmp(name, "PERSH_SESSION") != 0)
		return 1;
	snprintf(sc.env_session, sizeof sc.env_session, "%s", value);
	return 0;
}

static int
sc_shell(ssh_session s, ssh_channel ch, void *ud)
{
	(void)s;
	(void)ch;
	(void)ud;
	if (sc.requested)
		return 1;
	sc.requested = 1;
	sc_kick();
	return 0;
}

static int
sc_exec(ssh_session s, ssh_channel ch, const char *command, void *ud)
{
	(void)s;
	(void)ch;
	(void)ud;
	if (sc.requested || command == NULL)
		return 1;
	sc.requested = 1;
	sc.command = xstrdup(command);
	sc_kick();
	return 0;
}

/* The client opens a session channel: one per connection, once
 * authenticated. */
ssh_channel
sc_chan_open(ssh_session s, void *ud)
{
	(void)ud;
	if (!sc.authed || sc.ch != NULL || sc.done)
		return NULL;
	sc.ch = ssh_channel_new(s);
	if (sc.ch == NULL)
		return NULL;
	ssh_callbacks_init(&sc.ccb);
	sc.ccb.channel_data_function = sc_data;
	sc.ccb.channel_eof_function = sc_eof;
	sc.ccb.channel_close_function = sc_close;
	sc.ccb.channel_pty_request_function = sc_pty;
	sc.ccb.channel_pty_window_change_function = sc_window_change;
	sc.ccb.channel_env_request_function = sc_env;
	sc.ccb.channel_shell_request_function = sc_shell;
	sc.ccb.channel_exec_request_function = sc_exec;
	ssh_set_channel_callbacks(sc.ch, &sc.ccb);
	return sc.ch;
}

/* After anything happened: start the command, move bytes both ways, apply
 * backpressure, and end the channel once the exit status is decided. */
void
sc_chan_step(void)
{
	if (sc.requested && !sc.started && sc.ch != NULL && !sc.finishing)
		sc_start();
	sc_flush();
	sc_pump_in();
	if (sc.remote_eof && sc.mode == SC_BRIDGE && !sc.finishing && !sc.half_closed &&
	    !sc.backlog) {
		/* The remote client is done sending (as `persh bridge` does): what
		 * it sent goes through, then EOF, and what the daemon still says
		 * on the way out comes back until it closes. */
		sc_deliver(1);
		sc.in_off = sc.in_len = 0; /* a partial frame never completes */
		if (sc.sup != NULL && peer_queued(sc.sup) == 0) {
			shutdown(peer_fd(sc.sup), SHUT_WR);
			sc.half_closed = 1;
		}
	}
	if (sc.remote_closed && !sc.finishing) {
		/* The client closed the channel: a lost client, not a detach. */
		log_debug("ssh %s: channel closed by the client", sc.peer);
		sc_finish(EXIT_OK, 0, NULL);
	}
	if (sc.finishing && !sc.closed) {
		sc_flush();
		if (!sc_usable()) {
			sc.closed = 1;
		} else if (evbuffer_get_length(sc.out) == 0 && evbuffer_get_length(sc.err) == 0) {
			sc.status_sent =
			    ssh_channel_request_send_exit_status(sc.ch, sc.exit_status) == SSH_OK;
			ssh_channel_send_eof(sc.ch);
			ssh_channel_close(sc.ch);
			sc.closed = 1;
		}
	}
	/* Its close came after our exit-status: the client has the status. */
	if (sc.exit_ack && sc.status_sent && sc.remote_closed)
		sc_peer_close();
	sc_hold(1);
}

/* fd 4 and the buffers, at start. The supervisor says nothing until we do,
 * but we read it from the start to notice it closing. */
void
sc_chan_setup(void)
{
	sc.rows = 24;
	sc.cols = 80;
	sc.in = xmalloc(SC_INBUF);
	sc.out = evbuffer_new();
	sc.err = evbuffer_new();
	if (sc.out == NULL || sc.err == NULL)
		abort();
	sc_cmd_setup();
}

/* Leaving: what is queued for the supervisor still goes out. */
void
sc_chan_close(void)
{
	sc_peer_close();
}

/* After the loop. */
void
sc_chan_cleanup(void)
{
	sc_cmd_cleanup();
	free(sc.command);
	free(sc.in);
	if (sc.out != NULL)
		evbuffer_free(sc.out);
	if (sc.err != NULL)
		evbuffer_free(sc.err);
}
