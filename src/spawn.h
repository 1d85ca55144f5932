/* Starting a session's shell: a login shell under a new PTY. */
#ifndef PERSH_SPAWN_H
#define PERSH_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

struct spawn {
	pid_t pid;
	int master;        /* the PTY master: non-blocking, close-on-exec */
	uint16_t rows, cols;
	const char *shell; /* what was run (for the log) */
	const char *term;  /* its TERM */
};

/* The soft RLIMIT_NOFILE shells start with (the daemon raises its own). */
void spawn_set_nofile(uint64_t soft);
/* Fork a login shell for session name under a new PTY of rows x cols
 * (24x80 if either is 0), TERM from the config or client_term; 0, or -1
 * with a reason in err (including an exec that failed). */
int spawn_shell(const char *name, uint16_t rows, uint16_t cols, const char *client_term,
    struct spawn *out, char *err, size_t errlen);

#endif
