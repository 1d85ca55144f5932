/* The control socket: where it lives, the daemon's lock, and accepting
 * connections from processes of our own uid. */
#ifndef PERSH_CONTROL_H
#define PERSH_CONTROL_H

#include <stddef.h>

struct control_paths {
	char dir[256];
	char sock[256];
	char pid[256];
};

/* Where the runtime dir, socket and pid file are for the configuration in
 * force; -1 with a reason if the paths do not fit. */
int control_paths(struct control_paths *cp, char *err, size_t errlen);
/* Create (or check) the runtime dir: ours, a directory, mode 0700. */
int control_mkdir(const struct control_paths *cp, char *err, size_t errlen);
/* Daemon: take the lock, replace a stale socket, listen. -1 with a reason
 * (e.g. a live daemon holds the lock). */
int control_open(const struct control_paths *cp, char *err, size_t errlen);
/* Daemon exit: stop listening, remove socket and pid file. */
void control_close(void);

#endif
