/* A session's screen for redrawing reattaching clients, kept off the hot
 * path.
 *
 * The emulator is never fed inline: the PTY's bytes go to the ring and the
 * clients first, and the emulator reads them from the ring only once output
 * has paused for RESTORE_QUIET_MS (then in idle-priority slices, which
 * libevent runs only when no I/O is ready, stopping as soon as output
 * resumes), or at once when a client needs a redraw. A shell flooding
 * output therefore runs at PTY speed, with no emulator work at all.
 * If a flood outruns it by more than the ring holds, it skips to the oldest
 * byte the ring still has: what scrolled away unseen cannot be on the
 * screen anyway, and earlier modes are kept (only a mode set inside the
 * skipped span can be missed; it is logged at debug level).
 *
 * With no client attached, a caught-up emulator is folded into its own
 * redraw stream (a few KB at most) and freed, so an idle detached session
 * costs a snapshot, not a screen; feeding the snapshot to a fresh emulator
 * brings it back exactly (the unit tests check this round trip).
 *
 * Resizes are applied at the ring offset where they happened, so output
 * written before a resize is interpreted at the old size.
 */
#include "restore.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "ring.h"
#include "screen.h"
#include "util.h"

/* Bytes fed per idle pass: small enough that I/O waits little behind it. */
#define RESTORE_SLICE 16384
/* Output must pause this long before the emulator catches up. */
#define RESTORE_QUIET_MS 30
/* After a fold, when free heap pages go back to the system. */
#define RESTORE_TRIM_MS 100
/* Resizes remembered while the emulator lags; older ones are merged. */
#define RESTORE_MAX_PENDING 16

struct restore_resize {
	uint64_t off;
	uint16_t rows, cols;
};

struct restore {
	char name[NAME_MAX_LEN + 1];
	struct ring *ring;
	struct screen *scr;     /* live emulator, or NULL when dormant */
	uint8_t *snap;          /* the redraw stream of a dormant emulator, */
	size_t snaplen;         /* kept at its exact size */
	uint16_t rows, cols;    /* the emulator's (or snapshot's) size */
	uint64_t off;           /* ring offset consumed so far */
	struct restore_resize pend[RESTORE_MAX_PENDING];
	unsigned npend;
	unsigned attached;
	int held;               /* the shell is paused by slow clients: not a pause */
	int64_t last_output;    /* monotonic ms */
	struct event *idle_ev;
	struct event *quiet_timer;
};

static void restore_work(void *arg);
static void restore_quiet(void *arg);

/* A dormant emulator with an empty screen of the given size. */
struct restore *
restore_new(const char *name, struct ring *ring, uint16_t rows, uint16_t cols)
{
	struct restore *r = xcalloc(1, sizeof *r);

	snprintf(r->name, sizeof r->name, "%s", name);
	r->ring = ring;
	r->rows = rows;
	r->cols = cols;
	r->off = ring_head(ring);
	r->idle_ev = loop_idle_new(restore_work, r);
	r->quiet_timer = loop_timer_new(restore_quiet, r);
	return r;
}

/* Free the emulator and its snapshot. */
void
restore_free(struct restore *r)
{
	if (r == NULL)
		return;
	if (r->scr != NULL)
		screen_free(r->scr);
	free(r->snap);
	loop_event_free(r->idle_ev);
	loop_event_free(r->quiet_timer);
	free(r);
}

/* Bring a dormant emulator back from its snapshot. */
static void
restore_wake(struct restore *r)
{
	if (r->scr != NULL)
		return;
	r->scr = screen_new(r->rows, r->cols);
	if (r->snaplen > 0)
		screen_feed(r->scr, r->snap, r->snaplen);
	free(r->snap);
	r->snap = NULL;
	r->snaplen = 0;
}

static struct event *trim_timer;

/* Give the heap's free pages back to the system (see restore_sleep). */
static void
restore_trim(void *arg)
{
	(void)arg;
	malloc_trim(0);
}

/* Fold a caught-up emulator into its redraw stream and free it. The
 * stream is copied out at its exact size (libevent's chains are sized in
 * KiB); and since freed screens would otherwise stay in the heap, the
 * allocator is asked to give free pages back once a burst of folds (many
 * clients leaving at once) is over: one one-shot timer, never periodic. */
static void
restore_sleep(struct restore *r)
{
	struct evbuffer *out;

	if (r->scr == NULL)
		return;
	out = evbuffer_new();
	screen_dump(r->scr, out);
	screen_free(r->scr);
	r->scr = NULL;
	r->snaplen = evbuffer_get_length(out);
	r->snap = xmalloc(r->snaplen);
	evbuffer_remove(out, r->snap, r->snaplen);
	evbuffer_free(out);
	log_debug("session %s: screen folded into a %zu-byte snapshot", r->name, r->snaplen);
	if (trim_timer == NULL)
		trim_timer = loop_timer_new(restore_trim, NULL);
	if (!loop_timer_pending(trim_timer))
		loop_timer_set(trim_timer, RESTORE_TRIM_MS);
}

/* Daemon exit: drop the trim timer. */
void
restore_shutdown(void)
{
	loop_event_free(trim_timer);
	trim_timer = NULL;
}

/* Apply the oldest pending resize. */
static void
restore_pop_resize(struct restore *r)
{
	r->rows = r->pend[0].rows;
	r->cols = r->pend[0].cols;
	screen_resize(r->scr, r->rows, r->cols);
	memmove(r->pend, r->pend + 1, --r->npend * sizeof r->pend[0]);
}

/* Feed up to budget bytes from the ring (all of it if budget is 0). */
static void
restore_feed(struct restore *r, size_t budget)
{
	uint64_t head = ring_head(r->ring), tail = ring_tail(r->ring);
	int unlimited = budget == 0;

	restore_wake(r);
	if (r->off < tail) {
		log_debug("session %s: screen skipped %llu bytes the ring no longer holds", r->name,
		    (unsigned long long)(tail - r->off));
		r->off = tail;
	}
	for (;;) {
		uint64_t stop = head;
		const uint8_t *p;
		size_t run;

		while (r->npend > 0 && r->pend[0].off <= r->off)
			restore_pop_resize(r);
		if (r->off >= head || (!unlimited && budget == 0))
			break;
		if (r->npend > 0 && r->pend[0].off < stop)
			stop = r->pend[0].off;
		p = ring_peek(r->ring, r->off, &run);
		if (p == NULL)
			break;
		if (run > stop - r->off)
			run = (size_t)(stop - r->off);
		if (!unlimited && run > budget)
			run = budget;
		screen_feed(r->scr, p, run);
		r->off += run;
		if (!unlimited)
			budget -= run;
	}
}

/* Idle pass: feed a slice; go on later (unless output resumed: then wait
 * for the next pause), or sleep once caught up alone. */
static void
restore_work(void *arg)
{
	struct restore *r = arg;
	int64_t quiet = now_ms() - r->last_output;

	if (r->held)
		return; /* restore_hold(r, 0) starts the clock again */
	if (quiet < RESTORE_QUIET_MS) {
		loop_timer_set(r->quiet_timer, RESTORE_QUIET_MS - quiet);
		return;
	}
	restore_feed(r, RESTORE_SLICE);
	if (r->off < ring_head(r->ring))
		loop_idle_wake(r->idle_ev);
	else if (r->attached == 0)
		restore_sleep(r);
}

/* Output may have paused: check, then catch up in idle slices. */
static void
restore_quiet(void *arg)
{
	restore_work(arg);
}

/* New output is in the ring: catch up once it pauses. The timer is armed
 * once per burst, not per read. */
void
restore_output(struct restore *r)
{
	r->last_output = now_ms();
	if (!loop_timer_pending(r->quiet_timer))
		loop_timer_set(r->quiet_timer, RESTORE_QUIET_MS);
}

/* The shell is paused (held) because its clients are slow, or runs again:
 * a held shell has not paused by itself, so the emulator waits. */
void
restore_hold(struct restore *r, int held)
{
	r->held = held;
	if (!held)
		restore_output(r);
}

/* The PTY took a new size at the ring's current head. */
void
restore_resize(struct restore *r, uint16_t rows, uint16_t cols)
{
	uint64_t head = ring_head(r->ring);

	if (r->npend > 0 && r->pend[r->npend - 1].off == head) {
		r->pend[r->npend - 1].rows = rows;
		r->pend[r->npend - 1].cols = cols;
		return;
	}
	if (r->npend == RESTORE_MAX_PENDING) {
		/* Drop the oldest: only output between it and the next is drawn
		 * at a slightly wrong size. */
		memmove(r->pend, r->pend + 1, --r->npend * sizeof r->pend[0]);
	}
	r->pend[r->npend].off = head;
	r->pend[r->npend].rows = rows;
	r->pend[r->npend].cols = cols;
	r->npend++;
	loop_idle_wake(r->idle_ev);
}

/* How many clients are attached. */
void
restore_set_attached(struct restore *r, unsigned n)
{
	r->attached = n;
	if (n == 0)
		loop_idle_wake(r->idle_ev);
}

/* Catch up with the ring, then append the repaint; returns its offset. */
uint64_t
restore_dump(struct restore *r, struct evbuffer *out)
{
	restore_feed(r, 0);
	screen_dump(r->scr, out);
	return r->off;
}

/* Bytes held by the emulator or its snapshot. */
size_t
restore_memory(const struct restore *r)
{
	return sizeof *r + (r->scr != NULL ? screen_memory(r->scr) : r->snaplen);
}
