/* A terminal hang-up of a session's processes: SIGHUP, then SIGTERM, then
 * SIGKILL, each after a grace period, to whatever of them is still there. */
#ifndef PERSH_HANGUP_H
#define PERSH_HANGUP_H

#include <stdint.h>
#include <sys/types.h>

/* Signal the shell's process group and the terminal's foreground process
 * group (fg <= 0: none) now, and go on by itself: it outlives the session,
 * so a job that ignores SIGHUP still gets SIGTERM and SIGKILL after the
 * shell is gone. */
void hangup_start(const char *name, pid_t shell, pid_t fg, int64_t grace_ms);
/* Daemon exit: forget the hang-ups still escalating. */
void hangup_shutdown(void);

#endif
