/* The one libevent wrapper: the event base, signals as events, timers, and
 * deferred frees for objects a callback may still reach. */
#include "loop.h"

#include <event2/event.h>
#include <stdlib.h>

#include "util.h"

struct deferred {
	loop_cb fn;
	void *p;
	struct deferred *next;
};

struct loop_thunk {
	loop_cb cb;
	void *arg;
};

static struct event_base *base;
static struct event *defer_ev;
static struct deferred *defer_head, **defer_tail = &defer_head;

/* Run every deferred call queued so far, in order. */
static void
loop_defer_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	while (defer_head != NULL) {
		struct deferred *d = defer_head;

		defer_head = d->next;
		if (defer_head == NULL)
			defer_tail = &defer_head;
		d->fn(d->p);
		free(d);
	}
}

/* Create the event base; start-up only. Three priorities: 0 unused, 1 (the
 * default) for all I/O and timers, 2 for idle work, which libevent runs only
 * in a pass where nothing of priority 1 is ready. */
struct event_base *
loop_init(void)
{
	base = event_base_new();
	if (base == NULL || event_base_priority_init(base, 3) == -1)
		return NULL;
	defer_ev = event_new(base, -1, 0, loop_defer_run, NULL);
	return base;
}

/* The process's event base. */
struct event_base *
loop_base(void)
{
	return base;
}

/* Dispatch until loop_exit or nothing is left to watch. */
int
loop_run(void)
{
	return event_base_dispatch(base);
}

/* Leave loop_run after the current callback. */
void
loop_exit(void)
{
	event_base_loopbreak(base);
}

/* Run what is still deferred, then free the base. */
void
loop_done(void)
{
	loop_defer_run(-1, 0, NULL);
	event_free(defer_ev);
	event_base_free(base);
	base = NULL;
}

/* Adapt libevent's callback shape to loop_cb. */
static void
loop_thunk_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop_thunk *t = arg;

	(void)fd;
	(void)what;
	t->cb(t->arg);
}

/* Run cb(arg) from the loop when sig arrives. */
struct event *
loop_signal(int sig, loop_cb cb, void *arg)
{
	struct loop_thunk *t = xmalloc(sizeof *t);
	struct event *ev;

	t->cb = cb;
	t->arg = arg;
	ev = evsignal_new(base, sig, loop_thunk_cb, t);
	if (ev == NULL || event_add(ev, NULL) == -1)
		abort();
	return ev;
}

/* A disarmed timer calling cb(arg). */
struct event *
loop_timer_new(loop_cb cb, void *arg)
{
	struct loop_thunk *t = xmalloc(sizeof *t);
	struct event *ev;

	t->cb = cb;
	t->arg = arg;
	ev = evtimer_new(base, loop_thunk_cb, t);
	if (ev == NULL)
		abort();
	return ev;
}

/* Arm the timer to fire once after ms, or disarm it if ms < 0. */
void
loop_timer_set(struct event *ev, int64_t ms)
{
	struct timeval tv;

	if (ms < 0) {
		evtimer_del(ev);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* 1 if the timer is armed. */
int
loop_timer_pending(struct event *ev)
{
	return evtimer_pending(ev, NULL);
}

/* Free a timer or signal event made here (and its thunk). */
void
loop_event_free(struct event *ev)
{
	if (ev == NULL)
		return;
	free(event_get_callback_arg(ev));
	event_free(ev);
}

/* Call fn(p) once the current callback has returned. */
void
loop_defer(loop_cb fn, void *p)
{
	struct deferred *d = xmalloc(sizeof *d);

	d->fn = fn;
	d->p = p;
	d->next = NULL;
	*defer_tail = d;
	defer_tail = &d->next;
	event_active(defer_ev, 0, 0);
}

/* An event for work that must never delay I/O: it runs when nothing else
 * is ready. loop_idle_wake schedules it; it runs once per wake. */
struct event *
loop_idle_new(loop_cb cb, void *arg)
{
	struct loop_thunk *t = xmalloc(sizeof *t);
	struct event *ev;

	t->cb = cb;
	t->arg = arg;
	ev = event_new(base, -1, 0, loop_thunk_cb, t);
	if (ev == NULL || event_priority_set(ev, 2) == -1)
		abort();
	return ev;
}

/* Schedule an idle event; libevent ignores a second wake of an active one. */
void
loop_idle_wake(struct event *ev)
{
	event_active(ev, 0, 0);
}
