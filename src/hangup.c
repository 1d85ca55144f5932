/* A terminal hang-up of a session's processes: SIGHUP, then SIGTERM, then
 * SIGKILL, each after a grace period, to whatever of them is still there.
 *
 * Like the kernel's tty hang-up, it reaches the controlling process (the
 * shell, and its process group) and the foreground job; background jobs
 * hear of it from the shell, which passes SIGHUP on to them, so a `nohup`
 * job survives, as it would a real hang-up. Each step sends SIGCONT too:
 * a stopped job must run to act on the signal. Two one-shot timers at
 * most, then it frees itself. */
#include "hangup.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "util.h"

struct hangup {
	char name[NAME_MAX_LEN + 1];
	pid_t groups[2];
	int stage; /* signals sent so far */
	int64_t grace;
	struct event *timer;
	TAILQ_ENTRY(hangup) entry;
};

static TAILQ_HEAD(, hangup) hangups = TAILQ_HEAD_INITIALIZER(hangups);

static const int hangup_sigs[] = { SIGHUP, SIGTERM, SIGKILL };
static const char *const hangup_names[] = { "SIGHUP", "SIGTERM", "SIGKILL" };

/* Free it once its last timer has fired. */
static void
hangup_free(void *arg)
{
	struct hangup *h = arg;

	TAILQ_REMOVE(&hangups, h, entry);
	loop_event_free(h->timer);
	free(h);
}

/* Send the next signal to every group still alive; stop when none is. */
static void
hangup_step(void *arg)
{
	struct hangup *h = arg;
	int alive = 0;

	for (int i = 0; i < 2; i++) {
		if (h->groups[i] <= 0)
			continue;
		if (kill(-h->groups[i], 0) == -1 && errno == ESRCH) {
			h->groups[i] = 0;
			continue;
		}
		kill(-h->groups[i], hangup_sigs[h->stage]);
		kill(-h->groups[i], SIGCONT);
		alive = 1;
	}
	if (alive)
		log_info("session %s: sent %s", h->name, hangup_names[h->stage]);
	h->stage++;
	/* A grace of "never" means SIGHUP only, as a plain hang-up is. */
	if (!alive || h->stage == 3 || h->grace < 0) {
		loop_defer(hangup_free, h);
		return;
	}
	loop_timer_set(h->timer, h->grace);
}

/* Hang up now and escalate by itself. */
void
hangup_start(const char *name, pid_t shell, pid_t fg, int64_t grace_ms)
{
	struct hangup *h = xcalloc(1, sizeof *h);

	snprintf(h->name, sizeof h->name, "%s", name);
	h->groups[0] = shell;
	h->groups[1] = fg != shell ? fg : 0;
	h->grace = grace_ms == CONFIG_NEVER ? -1 : grace_ms;
	h->timer = loop_timer_new(hangup_step, h);
	TAILQ_INSERT_TAIL(&hangups, h, entry);
	hangup_step(h);
}

/* Daemon exit: stop escalating (the processes already have their SIGHUP). */
void
hangup_shutdown(void)
{
	struct hangup *h;

	while ((h = TAILQ_FIRST(&hangups)) != NULL) {
		loop_timer_set(h->timer, -1);
		TAILQ_REMOVE(&hangups, h, entry);
		loop_event_free(h->timer);
		free(h);
	}
}
