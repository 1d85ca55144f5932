/* `persh bridge NAME`: the framed attach protocol on stdin/stdout, relayed
 * verbatim to the local daemon (started if needed). It is what a remote
 * `persh attach HOST/NAME` runs through a stock sshd; the remote client
 * speaks the protocol itself (HELLO, ATTACH, heartbeats), so a dead link is
 * noticed by the daemon's heartbeat timeout even if sshd never notices. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "dial.h"
#include "util.h"

/* Bytes held per direction; a full buffer stops reading its source. */
#define BRIDGE_BUF 65536

struct bridge_dir {
	int from, to;
	uint8_t buf[BRIDGE_BUF];
	size_t len;
	int eof;
};

/* Move what can move in one direction; -1 when it is finished. */
static int
bridge_pump(struct bridge_dir *d, short revents_from, short revents_to)
{
	ssize_t n;

	if (!d->eof && d->len < sizeof d->buf && (revents_from & (POLLIN | POLLHUP | POLLERR))) {
		n = read(d->from, d->buf + d->len, sizeof d->buf - d->len);
		if (n > 0)
			d->len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			d->eof = 1;
	}
	if (d->len > 0 && (revents_to & (POLLOUT | POLLERR | POLLHUP))) {
		n = write(d->to, d->buf, d->len);
		if (n > 0) {
			memmove(d->buf, d->buf + n, d->len - (size_t)n);
			d->len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	return d->eof && d->len == 0 ? -1 : 0;
}

/* persh bridge NAME */
int
cmd_bridge(int argc, char **argv)
{
	static struct bridge_dir up, down; /* 128 KiB: not on the stack */
	const char *path = NULL, *cfgpath;
	char err[512];
	int c, fd, unreachable, rc, up_done = 0;

	optind = 1;
	while ((c = getopt(argc, argv, "+c:h")) != -1) {
		if (c == 'c') {
			path = optarg;
			continue;
		}
		fprintf(stderr, "usage: persh bridge NAME\n");
		return EXIT_USAGE;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: persh bridge NAME\n");
		return EXIT_USAGE;
	}
	cfgpath = cmd_config(path);
	if ((rc = cmd_check_name(argv[optind])) != 0)
		return rc;
	fd = dial_daemon(cfgpath, 1, 0, &unreachable, err, sizeof err);
	if (fd == -1) {
		fprintf(stderr, "persh: %s\n", err);
		return unreachable ? EXIT_UNREACHABLE : EXIT_ERROR;
	}
	fd_set_nonblock(fd, 1);
	fd_set_nonblock(STDIN_FILENO, 1);
	fd_set_nonblock(STDOUT_FILENO, 1);
	up.from = STDIN_FILENO;
	up.to = fd;
	down.from = fd;
	down.to = STDOUT_FILENO;
	for (;;) {
		struct pollfd p[3] = {
			{ STDIN_FILENO, (!up_done && !up.eof && up.len < BRIDGE_BUF) ? POLLIN : 0, 0 },
			{ fd, (short)(((!down.eof && down.len < BRIDGE_BUF) ? POLLIN : 0) |
				  (!up_done && up.len > 0 ? POLLOUT : 0)), 0 },
			{ STDOUT_FILENO, down.len > 0 ? POLLOUT : 0, 0 },
		};

		if (poll(p, 3, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (bridge_pump(&down, p[1].revents, p[2].revents) == -1)
			break; /* the daemon closed: nothing more will come */
		if (!up_done && bridge_pump(&up, p[0].revents, p[1].revents) == -1) {
			/* The remote side is gone: the daemon sees EOF, and what it
			 * still says on the way out is passed on. */
			shutdown(fd, SHUT_WR);
			up_done = 1;
		}
	}
	close(fd);
	return EXIT_OK;
}
