/* The one libevent wrapper: the event base, signals as events, timers, and
 * deferred frees for objects a callback may still reach. */
#ifndef PERSH_LOOP_H
#define PERSH_LOOP_H

#include <stdint.h>

struct event_base;
struct event;

typedef void (*loop_cb)(void *arg);

struct event_base *loop_init(void);
struct event_base *loop_base(void);
int loop_run(void);
void loop_exit(void);
/* Free everything the loop still owns (deferred frees, the base). */
void loop_done(void);

/* Run cb(arg) from the loop when sig arrives (signals coalesce). */
struct event *loop_signal(int sig, loop_cb cb, void *arg);

/* A timer: created idle; loop_timer_set arms it (ms < 0 disarms). */
struct event *loop_timer_new(loop_cb cb, void *arg);
void loop_timer_set(struct event *ev, int64_t ms);
void loop_event_free(struct event *ev);
int loop_timer_pending(struct event *ev);

/* Idle work: runs only when no I/O or timer is ready. */
struct event *loop_idle_new(loop_cb cb, void *arg);
void loop_idle_wake(struct event *ev);

/* Call fn(p) once the current callback has returned. */
void loop_defer(loop_cb fn, void *p);

#endif
