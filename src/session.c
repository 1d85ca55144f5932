/* A session: one shell under forkpty, its output ring, and the clients
 * attached to it, each with its own position in the ring.
 *
 * The data path is PTY master -> ring -> each member's peer queue. The
 * daemon reads the PTY straight into the ring whether or not anyone is
 * attached, so a detached shell never blocks on output. Members are pumped
 * from their own ring offset while their socket queue has room. The shell is
 * paused (the PTY is not read) only while the fastest member is a whole
 * client_buffer behind, like a slow terminal, and for stall_timeout at most.
 * A member a whole client_buffer behind (slower than the fastest, or
 * stalled) never holds back the shell or its peers: it is skipped to the
 * present with a repaint of the screen if it is still reading, else left
 * behind until it reads again (session_behind).
 */
#include "session.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "hangup.h"
#include "restore.h"
#include "stats.h"
#include "ring.h"
#include "spawn.h"
#include "util.h"

/* Most bytes queued to one member's socket before pumping stops. */
#define SESSION_PUMP_HIWAT (256 * 1024)
/* Keystrokes waiting for the shell before members stop being read. */
#define SESSION_INPUT_MAX (256 * 1024)
/* After the shell exits, how long to wait for the PTY to drain (background
 * jobs may hold the slave open forever). */
#define SESSION_DRAIN_MS 500

struct member {
	struct client *c;
	uint64_t off; /* next ring offset to send */
	uint16_t rows, cols;
	int readonly;
	int input_paused;
	int exit_sent; /* it has the exit status; it stays until it says so */
	int repaint;   /* send a REDRAW once it has caught up (it drew over its screen) */
	uint64_t written; /* what its socket had taken when it was last repainted */
	int behind;       /* left behind: paces no one until it reads again */
	TAILQ_ENTRY(member) entry;
};

struct session {
	char name[NAME_MAX_LEN + 1];
	pid_t pid;
	int master;
	struct ring *ring;
	struct restore *restore; /* NULL unless [session] restore = screen */
	struct event *rev, *wev;
	struct evbuffer *inq;
	int reading, writing;
	uint16_t rows, cols;
	struct member *active; /* the member whose size the window follows */
	TAILQ_HEAD(, member) members;
	unsigned nmembers;

	int64_t created;  /* wall clock */
	int64_t activity; /* monotonic ms of the last output or input */

	struct event *stall_timer;
	struct event *drain_timer;
	int hung_up;      /* a hang-up was started (hangup.c carries it on) */
	uint16_t cause;   /* why it is being hung up (enum proto_end), 0: not */

	/* With no client: orphaned (the last was lost) or detached (it left on
	 * purpose); each has its own timeout, armed once, never periodic. */
	int orphaned;
	struct event *alone_timer;
	int64_t alone_deadline; /* monotonic ms, or -1 */

	int exited;    /* the shell was reaped */
	int status;    /* its status, as a shell reports it */
	int pty_done;  /* no more output will come */
	int seen;      /* a client acknowledged the exit status */
	int removed;
	int fresh;     /* just created: its first attach is the one that created it */

	TAILQ_ENTRY(session) entry;
};

static TAILQ_HEAD(, session) sessions = TAILQ_HEAD_INITIALIZER(sessions);
static unsigned nsessions;

static void session_read_cb(evutil_socket_t, short, void *);
static void session_write_cb(evutil_socket_t, short, void *);
static void session_stall(void *);
static void session_drain_timeout(void *);
static void session_alone_expired(void *);
static void session_hangup(struct session *);
static void session_pump(struct session *, struct member *);
static void session_update_reading(struct session *);
static void session_finish(struct session *);
static void session_remove(struct session *);

/* Start the shell (spawn.c) and take it on; NULL with a reason in err. */
struct session *
session_create(const struct session_spec *spec, char *err, size_t errlen)
{
	struct session *s = NULL;
	struct spawn sp;

	if (spawn_shell(spec->name, spec->rows, spec->cols, spec->term, &sp, err, errlen) == -1)
		return NULL;
	s = xcalloc(1, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", spec->name);
	s->pid = sp.pid;
	s->master = sp.master;
	s->rows = sp.rows;
	s->cols = sp.cols;
	s->ring = ring_create((size_t)cfg->session_scrollback);
	if (cfg->session_restore == CONFIG_RESTORE_SCREEN)
		s->restore = restore_new(s->name, s->ring, s->rows, s->cols);
	s->inq = evbuffer_new();
	s->created = now_wall();
	s->activity = now_ms();
	TAILQ_INIT(&s->members);
	s->rev = event_new(loop_base(), sp.master, EV_READ | EV_PERSIST, session_read_cb, s);
	s->wev = event_new(loop_base(), sp.master, EV_WRITE | EV_PERSIST, session_write_cb, s);
	s->stall_timer = loop_timer_new(session_stall, s);
	s->drain_timer = loop_timer_new(session_drain_timeout, s);
	s->alone_timer = loop_timer_new(session_alone_expired, s);
	s->alone_deadline = -1;
	s->fresh = 1;
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	session_update_reading(s);
	log_info("session %s: started %s (pid %d, %ux%u, TERM=%s)", s->name, sp.shell,
	    (int)sp.pid, s->cols, s->rows, sp.term);
	return s;
}

/* The session named name, or NULL. */
struct session *
session_find(const char *name)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* How many sessions exist (exited ones included until seen). */
unsigned
session_count(void)
{
	return nsessions;
}

/* The session's name. */
const char *
session_name(const struct session *s)
{
	return s->name;
}

/* The shell's pid. */
pid_t
session_pid(const struct session *s)
{
	return s->pid;
}

/* Fill a LIST row. */
void
session_info(const struct session *s, struct proto_session *row)
{
	memset(row, 0, sizeof *row);
	row->pid = (uint32_t)s->pid;
	row->rows = s->rows;
	row->cols = s->cols;
	row->clients = (uint16_t)s->nmembers;
	if (s->exited)
		row->state = PROTO_S_EXITED;
	else if (s->nmembers > 0)
		row->state = PROTO_S_ATTACHED;
	else
		row->state = s->orphaned ? PROTO_S_ORPHANED : PROTO_S_DETACHED;
	row->left_ms = s->alone_deadline >= 0 ? s->alone_deadline - now_ms() : -1;
	if (row->left_ms < -1)
		row->left_ms = 0;
	row->exit_status = s->exited ? s->status : -1;
	row->created = s->created;
	row->idle_ms = now_ms() - s->activity;
	snprintf(row->name, sizeof row->name, "%s", s->name);
}

/* Call fn for every session, in creation order; fn may not remove any. */
void
session_foreach(void (*fn)(struct session *, void *), void *arg)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry)
		fn(s, arg);
}

/* The member record of c, or NULL. */
static struct member *
session_member(struct session *s, struct client *c)
{
	struct member *m;

	TAILQ_FOREACH(m, &s->members, entry)
		if (m->c == c)
			return m;
	return NULL;
}

/* Make m the member whose size the window follows, and apply its size. */
static void
session_follow(struct session *s, struct member *m)
{
	struct winsize ws;

	if (m->readonly || m->rows == 0 || m->cols == 0)
		return;
	s->active = m;
	if (s->pty_done || (m->rows == s->rows && m->cols == s->cols))
		return;
	memset(&ws, 0, sizeof ws);
	ws.ws_row = m->rows;
	ws.ws_col = m->cols;
	/* The kernel sends SIGWINCH to the foreground process group. */
	if (ioctl(s->master, TIOCSWINSZ, &ws) == 0) {
		s->rows = m->rows;
		s->cols = m->cols;
		if (s->restore != NULL)
			restore_resize(s->restore, s->rows, s->cols);
	}
}

/* Alone now: start the orphan or detached clock, whichever applies. An
 * ended session whose client was lost keeps its status for orphan_timeout
 * (the client may come back for it); one left on purpose keeps it until
 * someone attaches. */
static void
session_alone(struct session *s, int lost)
{
	int64_t after = lost ? cfg->session_orphan_timeout : cfg->session_detached_timeout;

	s->orphaned = lost;
	s->alone_deadline = -1;
	if (after == CONFIG_NEVER || (s->cause != 0 && !s->exited) || (s->pty_done && !lost))
		return;
	if (s->pty_done && !s->exited)
		return; /* the shell is still being reaped; session_finish decides */
	s->alone_deadline = now_ms() + after;
	loop_timer_set(s->alone_timer, after);
	log_info("session %s: %s; %s in %lld ms unless a client attaches", s->name,
	    lost ? "orphaned" : "detached", s->exited ? "forgotten" : "hang-up",
	    (long long)after);
}

/* Nobody came back in time: hang the session up like a terminal would (or,
 * if it already ended, stop keeping its status). */
static void
session_alone_expired(void *arg)
{
	struct session *s = arg;

	s->alone_deadline = -1;
	if (s->exited) {
		log_info("session %s: exit status not collected within orphan_timeout", s->name);
		session_remove(s);
		return;
	}
	s->cause = s->orphaned ? PROTO_END_ORPHAN_TIMEOUT : PROTO_END_DETACHED_TIMEOUT;
	log_info("session %s: %s, hanging up", s->name, proto_end_text(s->cause));
	session_hangup(s);
}

/* Unlink a member; the caller tells its client, if at all. lost: it went
 * away without detaching. */
static void
session_unlink(struct session *s, struct member *m, int lost)
{
	TAILQ_REMOVE(&s->members, m, entry);
	s->nmembers--;
	if (s->active == m)
		s->active = NULL;
	free(m);
	if (s->restore != NULL)
		restore_set_attached(s->restore, s->nmembers);
	if (s->nmembers == 0)
		session_alone(s, lost);
}

/* Let go of m with a reason sent to its client. */
static void
session_drop(struct session *s, struct member *m, uint16_t reason)
{
	struct client *c = m->c;
	uint64_t behind = ring_head(s->ring) - m->off;

	session_unlink(s, m, 1);
	log_info("session %s: %s dropped: %s (%llu bytes behind)", s->name, client_label(c),
	    proto_reason_text(reason), (unsigned long long)behind);
	stats_count(reason == PROTO_R_STALLED ? PROTO_END_STALLED : PROTO_END_TOO_SLOW);
	client_detached(c, reason);
}

/* Send a repaint in REDRAW frames of at most PROTO_MAX_DATA bytes. */
static void
session_send_redraw(struct client *c, struct evbuffer *out)
{
	while (evbuffer_get_length(out) > 0) {
		size_t n = evbuffer_get_length(out);

		if (n > PROTO_MAX_DATA)
			n = PROTO_MAX_DATA;
		client_send_redraw(c, evbuffer_pullup(out, (ssize_t)n), n);
		evbuffer_drain(out, n);
	}
}

/* Send a repaint of the session's screen to c, announced by ATTACHED (a
 * new member) or SKIPPED (a == NULL: a member too slow for the output);
 * returns the ring offset the repaint stands for. */
static uint64_t
session_redraw(struct session *s, struct client *c, struct proto_attached *a)
{
	struct evbuffer *out = evbuffer_new();
	uint64_t off;

	if (s->restore == NULL)
		s->restore = restore_new(s->name, s->ring, s->rows, s->cols);
	off = restore_dump(s->restore, out);
	if (a != NULL) {
		a->offset = off;
		a->flags |= PROTO_ATTACHED_REDRAW;
		client_send_attached(c, a);
	} else
		client_send_skipped(c, off);
	session_send_redraw(c, out);
	evbuffer_free(out);
	return off;
}

/* m is a whole client_buffer behind the output (the fastest member sets
 * the pace), or held the shell for stall_timeout. If its socket took
 * anything since it was last repainted, it is alive, only slower than the
 * shell (a slow terminal, a thin link): skip it to the present with a
 * repaint of the screen, as tmux does, rather than cut it off. If not
 * (stopped, XOFF, a dead link not yet noticed), leave it behind: it paces
 * no one, holds at most one repaint, and is repainted when it reads again
 * (or dropped by the heartbeat timeout). With no screen to repaint
 * ([session] restore other than screen) it is let go instead. */
static void
session_behind(struct session *s, struct member *m, uint16_t reason)
{
	uint64_t behind = ring_head(s->ring) - m->off;

	if (cfg->session_restore != CONFIG_RESTORE_SCREEN) {
		session_drop(s, m, reason);
		return;
	}
	if (client_written(m->c) == m->written) {
		if (!m->behind)
			log_info("session %s: %s left behind: it reads nothing (%llu bytes behind)",
			    s->name, client_label(m->c), (unsigned long long)behind);
		m->behind = 1;
		return;
	}
	m->behind = 0;
	m->written = client_written(m->c);
	m->off = session_redraw(s, m->c, NULL);
	m->repaint = 0;
	log_info("session %s: %s skipped %llu bytes it could not keep up with (repainted)",
	    s->name, client_label(m->c), (unsigned long long)behind);
	session_pump(s, m);
}

/* Whether m is a whole client_buffer behind, or out of the ring. */
static int
session_is_behind(const struct session *s, const struct member *m)
{
	return ring_head(s->ring) - m->off > cfg->session_client_buffer ||
	    m->off < ring_tail(s->ring);
}

/* Add c as a member and bring it up to date: exactly from the offset it
 * asks for when the ring still holds it and its terminal has the session's
 * size; otherwise as [session] restore says (a redraw of the screen, the
 * ring's tail, or nothing), then live output. */
void
session_attach(struct session *s, struct client *c, const struct proto_attach *req)
{
	struct member *m = xcalloc(1, sizeof *m);
	struct proto_attached a;
	uint64_t head = ring_head(s->ring);
	int same_size = req->rows == s->rows && req->cols == s->cols;
	const char *how;

	m->c = c;
	m->rows = req->rows;
	m->cols = req->cols;
	m->readonly = (req->flags & PROTO_ATTACH_READONLY) != 0;
	loop_timer_set(s->alone_timer, -1);
	s->alone_deadline = -1;
	s->orphaned = 0;
	TAILQ_INSERT_TAIL(&s->members, m, entry);
	s->nmembers++;
	if (s->restore != NULL)
		restore_set_attached(s->restore, s->nmembers);
	/* The window follows the newest client before any redraw, so that the
	 * redraw is made at the size it will be shown at. */
	session_follow(s, m);

	memset(&a, 0, sizeof a);
	a.pid = (uint32_t)s->pid;
	a.rows = s->rows;
	a.cols = s->cols;
	snprintf(a.name, sizeof a.name, "%s", s->name);
	if (s->fresh) {
		/* client_attach creates a session only to attach to it at once. */
		a.flags |= PROTO_ATTACHED_CREATED;
		s->fresh = 0;
	}
	/* Bytes drawn for another size would garble; a redraw will not. */
	if ((req->flags & PROTO_ATTACH_RESUME) && req->offset >= ring_tail(s->ring) &&
	    req->offset <= head && (same_size || cfg->session_restore != CONFIG_RESTORE_SCREEN)) {
		m->off = a.offset = req->offset;
		a.flags |= PROTO_ATTACHED_RESUMED;
		m->repaint = (req->flags & PROTO_ATTACH_REPAINT) &&
		    cfg->session_restore == CONFIG_RESTORE_SCREEN && !s->pty_done;
		how = "resumed";
	} else if (head == 0) {
		m->off = a.offset = 0; /* nothing to restore yet */
		how = "live";
	} else if (cfg->session_restore == CONFIG_RESTORE_SCREEN && !s->pty_done) {
		m->off = session_redraw(s, c, &a);
		how = "redrawn";
	} else if (cfg->session_restore == CONFIG_RESTORE_REPLAY || s->pty_done) {
		/* An ended session has no live screen to show: its last output is
		 * the next best thing. */
		m->off = a.offset = ring_tail(s->ring);
		a.flags |= PROTO_ATTACHED_REPLAY;
		how = "replayed";
	} else {
		m->off = a.offset = head;
		how = "live";
	}
	if (!(a.flags & PROTO_ATTACHED_REDRAW))
		client_send_attached(c, &a);
	log_info("session %s: %s attached%s, %s from offset %llu (%u clients)", s->name,
	    client_label(c), m->readonly ? " read-only" : "", how, (unsigned long long)m->off,
	    s->nmembers);
	session_pump(s, m);
	session_update_reading(s);
}

/* Remove c (it detached, or was lost); c is not called back. */
void
session_leave(struct session *s, struct client *c, int lost)
{
	struct member *m = session_member(s, c);

	if (m == NULL)
		return;
	session_unlink(s, m, lost);
	log_info("session %s: %s left (%u clients)", s->name, client_label(c), s->nmembers);
	if (s->pty_done && s->nmembers == 0 && s->seen)
		session_remove(s);
	else
		session_update_reading(s);
}

/* Send m everything it lacks while its socket queue has room; once the
 * shell is gone and m has it all, send the exit status. */
static void
session_pump(struct session *s, struct member *m)
{
	uint64_t head = ring_head(s->ring);

	if (m->behind)
		return; /* repainted when it reads again */
	while (m->off < head && client_queued(m->c) < SESSION_PUMP_HIWAT) {
		size_t run;
		const uint8_t *p = ring_peek(s->ring, m->off, &run);

		if (p == NULL)
			break; /* fell out of the ring: session_read_cb drops it */
		if (run > PROTO_MAX_DATA)
			run = PROTO_MAX_DATA;
		if (client_send_output(m->c, m->off, p, run) == -1)
			return;
		m->off += run;
	}
	/* Caught up after an exact resume: repaint what the client drew over.
	 * The redraw stands for the same offset, so live output follows on. */
	if (m->repaint && m->off == head && client_queued(m->c) < SESSION_PUMP_HIWAT) {
		struct evbuffer *out = evbuffer_new();

		m->repaint = 0;
		if (s->restore == NULL)
			s->restore = restore_new(s->name, s->ring, s->rows, s->cols);
		restore_dump(s->restore, out);
		session_send_redraw(m->c, out);
		evbuffer_free(out);
	}
	/* Everything out: the status follows. The member stays until it says it
	 * has it (EXIT_SEEN): a client whose link dies with the status still
	 * queued must find it again when it comes back. */
	if (s->pty_done && m->off == head && !m->exit_sent) {
		m->exit_sent = 1;
		client_send_exit(m->c, s->status);
	}
}

/* c has the exit status: the session has been seen to end and may go.
 * 0 if c had not been sent it (then nothing changes). */
int
session_exit_seen(struct session *s, struct client *c)
{
	struct member *m = session_member(s, c);

	if (m == NULL || !m->exit_sent)
		return 0;
	s->seen = 1;
	session_unlink(s, m, 0);
	if (s->nmembers == 0)
		session_remove(s);
	return 1;
}

/* Bytes the PTY may be read now: unbounded with no members, else what
 * keeps the fastest member within client_buffer. */
static size_t
session_room(const struct session *s)
{
	uint64_t head = ring_head(s->ring), min_lag = UINT64_MAX;
	uint64_t bound = cfg->session_client_buffer;
	const struct member *m;

	if (bound > ring_capacity(s->ring))
		bound = ring_capacity(s->ring); /* scrollback shrank on reload */
	TAILQ_FOREACH(m, &s->members, entry)
		if (!m->behind && head - m->off < min_lag)
			min_lag = head - m->off;
	if (min_lag == UINT64_MAX)
		return ring_capacity(s->ring);
	return min_lag >= bound ? 0 : (size_t)(bound - min_lag);
}

/* Read the PTY while there is room; otherwise pause it like a slow
 * terminal and start the stall clock. */
static void
session_update_reading(struct session *s)
{
	int want = !s->pty_done && session_room(s) > 0;

	if (want && !s->reading) {
		event_add(s->rev, NULL);
		s->reading = 1;
		loop_timer_set(s->stall_timer, -1);
		if (s->restore != NULL)
			restore_hold(s->restore, 0);
	} else if (!want && s->reading) {
		event_del(s->rev);
		s->reading = 0;
		if (s->restore != NULL && !s->pty_done)
			restore_hold(s->restore, 1);
	}
	if (!s->pty_done && !want && !loop_timer_pending(s->stall_timer) &&
	    cfg->session_stall_timeout != CONFIG_NEVER)
		loop_timer_set(s->stall_timer, cfg->session_stall_timeout);
}

/* Every member stayed a whole buffer behind for stall_timeout: let the
 * shell run without them (session_behind). */
static void
session_stall(void *arg)
{
	struct session *s = arg;
	uint64_t head = ring_head(s->ring);
	struct member *m, *next;

	for (m = TAILQ_FIRST(&s->members); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (!m->behind && head - m->off >= cfg->session_client_buffer)
			session_behind(s, m, PROTO_R_STALLED);
	}
	session_update_reading(s);
}

/* The PTY has output: read it into the ring and pass it on. */
static void
session_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct member *m, *next;
	size_t room = session_room(s), contig;
	uint8_t *dst = ring_reserve(s->ring, &contig);
	ssize_t n;

	(void)what;
	if (room == 0) {
		session_update_reading(s);
		return;
	}
	n = read(fd, dst, contig < room ? contig : room);
	if (n <= 0) {
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EIO: every slave fd is closed; the shell and its jobs are gone. */
		s->pty_done = 1;
		event_del(s->rev);
		s->reading = 0;
		loop_timer_set(s->stall_timer, -1);
		if (s->exited)
			session_finish(s);
		return;
	}
	ring_commit(s->ring, (size_t)n);
	s->activity = now_ms();
	if (s->restore != NULL)
		restore_output(s->restore);

	for (m = TAILQ_FIRST(&s->members); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (m->behind || session_is_behind(s, m))
			session_behind(s, m, PROTO_R_SLOW);
		else
			session_pump(s, m);
	}
	session_update_reading(s);
}

/* m's socket queue has room again. */
void
session_drained(struct session *s, struct client *c)
{
	struct member *m = session_member(s, c);

	if (m == NULL)
		return;
	if (m->behind || session_is_behind(s, m))
		session_behind(s, m, PROTO_R_SLOW); /* it reads again: repaint it */
	else
		session_pump(s, m);
	if (!s->removed)
		session_update_reading(s);
}

/* Write queued keystrokes to the shell; resume readers once it has room. */
static void
session_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct member *m;
	int n;

	(void)fd;
	(void)what;
	n = evbuffer_write(s->inq, s->master);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		evbuffer_drain(s->inq, evbuffer_get_length(s->inq));
	}
	if (evbuffer_get_length(s->inq) == 0 && s->writing) {
		event_del(s->wev);
		s->writing = 0;
	}
	if (evbuffer_get_length(s->inq) < SESSION_INPUT_MAX / 2) {
		TAILQ_FOREACH(m, &s->members, entry) {
			if (m->input_paused) {
				m->input_paused = 0;
				client_input_resume(m->c);
			}
		}
	}
}

/* Keystrokes from c; 1 if the caller should stop reading c for now. */
int
session_input(struct session *s, struct client *c, const uint8_t *buf, size_t len)
{
	struct member *m = session_member(s, c);

	if (m == NULL || m->readonly || s->pty_done)
		return 0;
	if (s->active != m)
		session_follow(s, m);
	s->activity = now_ms();
	evbuffer_add(s->inq, buf, len);
	if (!s->writing) {
		session_write_cb(s->master, EV_WRITE, s);
		if (evbuffer_get_length(s->inq) > 0) {
			event_add(s->wev, NULL);
			s->writing = 1;
		}
	}
	if (evbuffer_get_length(s->inq) >= SESSION_INPUT_MAX) {
		m->input_paused = 1;
		return 1;
	}
	return 0;
}

/* c's terminal changed size; the window follows it if c is the active one
 * or becomes it. */
void
session_resize(struct session *s, struct client *c, uint16_t rows, uint16_t cols)
{
	struct member *m = session_member(s, c);

	if (m == NULL || rows == 0 || cols == 0)
		return;
	m->rows = rows;
	m->cols = cols;
	session_follow(s, m);
}

/* Detach every member with a reason; returns how many. */
unsigned
session_detach_all(struct session *s, uint16_t reason)
{
	struct member *m;
	unsigned n = 0;

	while ((m = TAILQ_FIRST(&s->members)) != NULL) {
		struct client *c = m->c;

		session_unlink(s, m, 0);
		stats_count(reason == PROTO_R_SHUTDOWN ? PROTO_END_SHUTDOWN : PROTO_END_DETACHED);
		client_detached(c, reason);
		n++;
	}
	session_update_reading(s);
	return n;
}

/* Signal the shell's process group and the terminal's foreground group. */
static void
session_signal(struct session *s, int sig)
{
	pid_t fg = s->pty_done ? -1 : tcgetpgrp(s->master);

	kill(-s->pid, sig);
	if (fg > 0 && fg != s->pid)
		kill(-fg, sig);
}

/* Hang up the session's processes (once): the hang-up goes on by itself,
 * even after the shell is reaped. */
static void
session_hangup(struct session *s)
{
	if (s->hung_up || s->exited)
		return;
	s->hung_up = 1;
	hangup_start(s->name, s->pid, s->pty_done ? -1 : tcgetpgrp(s->master),
	    cfg->session_hangup_grace);
}

/* Hang up; an exited session is simply removed. */
void
session_kill(struct session *s)
{
	loop_timer_set(s->alone_timer, -1);
	s->alone_deadline = -1;
	if (s->cause == 0)
		s->cause = PROTO_END_KILLED;
	if (s->exited) {
		session_detach_all(s, PROTO_R_COMMAND);
		session_remove(s);
		return;
	}
	session_hangup(s);
}

/* The shell is reaped and no more output will come: close the PTY and send
 * the status to members that have everything. */
static void
session_finish(struct session *s)
{
	struct member *m, *next;

	loop_timer_set(s->drain_timer, -1);
	loop_timer_set(s->stall_timer, -1);
	loop_timer_set(s->alone_timer, -1);
	s->alone_deadline = -1;
	s->pty_done = 1;
	if (s->reading) {
		event_del(s->rev);
		s->reading = 0;
	}
	if (s->writing) {
		event_del(s->wev);
		s->writing = 0;
	}
	if (s->master != -1) {
		close(s->master);
		s->master = -1;
	}
	log_info("session %s: ended (%s), shell status %d", s->name,
	    proto_end_text(s->cause ? s->cause : PROTO_END_EXITED), s->status);
	stats_count(s->cause ? s->cause : PROTO_END_EXITED);
	if (s->nmembers == 0) {
		/* Kept, with its status, until a client has seen it: a shell that
		 * ended by itself, or one killed while its client was lost (that
		 * client may come back for the status). One hung up by a timeout,
		 * or killed while nobody was lost, is waited for by no one. */
		if (s->cause == 0 || (s->orphaned && s->cause == PROTO_END_KILLED)) {
			if (s->orphaned && cfg->session_orphan_timeout != CONFIG_NEVER) {
				s->alone_deadline = now_ms() + cfg->session_orphan_timeout;
				loop_timer_set(s->alone_timer, cfg->session_orphan_timeout);
			}
			return;
		}
		session_remove(s);
		return;
	}
	for (m = TAILQ_FIRST(&s->members); m != NULL && !s->removed; m = next) {
		next = TAILQ_NEXT(m, entry);
		session_pump(s, m);
	}
}

/* The shell is gone but the PTY still has a writer: stop waiting. */
static void
session_drain_timeout(void *arg)
{
	session_finish(arg);
}

/* A child was reaped; 0 if it was not a session's shell. */
int
session_reaped(pid_t pid, int status)
{
	struct session *s;

	TAILQ_FOREACH(s, &sessions, entry) {
		if (s->pid != pid || s->exited)
			continue;
		s->exited = 1;
		if (WIFEXITED(status))
			s->status = WEXITSTATUS(status);
		else if (WIFSIGNALED(status))
			s->status = 128 + WTERMSIG(status);
		else
			s->status = 255;
		if (s->pty_done)
			session_finish(s);
		else
			loop_timer_set(s->drain_timer, SESSION_DRAIN_MS);
		return 1;
	}
	return 0;
}

/* Free a session's memory, once no callback can reach it. */
static void
session_release(void *arg)
{
	struct session *s = arg;

	event_free(s->rev);
	event_free(s->wev);
	loop_event_free(s->stall_timer);
	loop_event_free(s->drain_timer);
	loop_event_free(s->alone_timer);
	evbuffer_free(s->inq);
	restore_free(s->restore);
	ring_free(s->ring);
	free(s);
}

/* Take a session out of the table; memory goes after the callback. */
static void
session_remove(struct session *s)
{
	if (s->removed)
		return;
	s->removed = 1;
	if (!s->pty_done || s->master != -1) {
		s->pty_done = 1;
		event_del(s->rev);
		event_del(s->wev);
		if (s->master != -1)
			close(s->master);
		s->master = -1;
	}
	loop_timer_set(s->drain_timer, -1);
	loop_timer_set(s->stall_timer, -1);
	loop_timer_set(s->alone_timer, -1);
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	log_info("session %s: removed", s->name);
	loop_defer(session_release, s);
}

/* Daemon exit: detach everyone, hang up every shell, free all. */
void
session_shutdown(void)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&sessions)) != NULL) {
		session_detach_all(s, PROTO_R_SHUTDOWN);
		if (!s->exited && !s->hung_up)
			session_signal(s, SIGHUP);
		session_remove(s);
	}
}
