/* The link of a remote attach: a child process that reaches HOST with the
 * libssh client, runs `persh bridge NAME` there, and relays the channel. */
#ifndef PERSH_SSHLINK_H
#define PERSH_SSHLINK_H

#include <sys/types.h>

#include "util.h"

/* How a link child ended (its exit code). */
enum sshlink_exit {
	SSHLINK_CLOSED = 0,   /* the far side or we closed it */
	SSHLINK_CONNECT = 20, /* could not connect (refused, unreachable, timeout) */
	SSHLINK_AUTH = 21,    /* public key refused: never retried */
	SSHLINK_HOSTKEY = 22, /* host key changed or not trusted: never retried */
	SSHLINK_REMOTE = 23,  /* the remote command failed (no persh there?) */
	SSHLINK_LOST = 24,    /* the link died (keepalives, reset, timeout) */
	SSHLINK_CONFIG = 25,  /* the ssh configuration cannot be read */
};

struct sshlink_target {
	char user[64];
	char host[256];
	unsigned port; /* 0: from the ssh configuration, else 22 */
	char name[NAME_MAX_LEN + 1];
	int may_ask;   /* a terminal is there to confirm an unknown host key */
};

/* Split "[USER@]HOST[:PORT]/NAME"; 0, or -1 if it is not of that form. */
int sshlink_parse(const char *arg, struct sshlink_target *t);
/* Start a link child; its pid, with *fd our end of the relay and *err_fd a
 * pipe carrying its one-line message; -1 on failure. */
pid_t sshlink_start(const struct sshlink_target *t, int *fd, int *err_fd);
/* Whether a link that ended with this exit code is worth trying again. */
int sshlink_retriable(int code);

#endif
