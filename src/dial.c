/* Reaching the local daemon from a client: connect, starting it if asked,
 * and the HELLO exchange. */
#include "dial.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "proto.h"
#include "util.h"

/* How long a client waits for a daemon it started to listen. */
#define DIAL_START_MS 5000

/* Connect to path; -1 with errno. */
static int
dial_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strnlen(path, sizeof sa.sun_path - 1));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Run "persh serve" (which daemonizes and exits once listening) and wait
 * for it; 0 if it started or another daemon already runs. */
static int
dial_start(const char *cfgpath, char *err, size_t errlen)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char *argv[] = { "persh", "serve", "-q", "-c", (char *)cfgpath, NULL };

		if (cfgpath == NULL)
			argv[3] = NULL;
		self_exec(argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	/* Exit 0: started; otherwise it printed why (another daemon winning the
	 * race to start is fine: we connect to that one). */
	(void)status;
	return 0;
}

/* Send our HELLO. */
static int
dial_hello(int fd)
{
	struct proto_hello h = { .magic = PROTO_MAGIC, .version = PROTO_VERSION };
	uint8_t buf[32];

	h.hb_timeout_ms = (uint32_t)cfg->heartbeat_timeout;
	h.pid = (uint32_t)getpid();
	return dial_write_frame(fd, PROTO_HELLO, buf, proto_hello_encode(buf, &h));
}

/* A connected socket to the daemon, or -1 with a reason. */
int
dial_daemon(const char *cfgpath, int autostart, int hello, int *unreachable, char *err,
    size_t errlen)
{
	struct control_paths cp;
	int64_t deadline;
	int fd, started = 0;

	*unreachable = 0;
	if (control_paths(&cp, err, errlen) == -1)
		return -1;
	deadline = now_ms() + DIAL_START_MS;
	for (;;) {
		fd = dial_connect(cp.sock);
		if (fd != -1)
			break;
		if (errno == EACCES || errno == EPERM) {
			snprintf(err, errlen, "cannot connect to %s: %s", cp.sock, strerror(errno));
			*unreachable = 1;
			return -1;
		}
		if (!autostart) {
			snprintf(err, errlen, "no daemon running on %s", cp.sock);
			*unreachable = 1;
			return -1;
		}
		if (!started) {
			if (dial_start(cfgpath, err, errlen) == -1) {
				*unreachable = 1;
				return -1;
			}
			started = 1;
			continue;
		}
		if (now_ms() > deadline) {
			snprintf(err, errlen, "could not start the daemon (no socket at %s)", cp.sock);
			*unreachable = 1;
			return -1;
		}
		poll(NULL, 0, 20); /* waiting on a process we started, not a peer */
	}
	/* A failed write is not the end: the daemon may have refused us with an
	 * ERROR that is waiting to be read, and the caller reads it. */
	if (hello)
		(void)dial_hello(fd);
	return fd;
}

/* Read exactly len bytes before the deadline. */
static int
dial_read_full(int fd, int64_t deadline, uint8_t *buf, size_t len, char *err, size_t errlen)
{
	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			snprintf(err, errlen, "the daemon did not answer in time");
			return -1;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fd, buf, len);
		if (n == 0) {
			snprintf(err, errlen, "the daemon closed the connection");
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, errlen, "read: %s", strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one frame into buf (cap >= PROTO_MAX_PAYLOAD). */
int
dial_read_frame(int fd, int64_t deadline, uint16_t *type, uint8_t *buf, uint32_t *len,
    char *err, size_t errlen)
{
	uint8_t hdr[PROTO_HEADER_LEN];

	if (dial_read_full(fd, deadline, hdr, sizeof hdr, err, errlen) == -1)
		return -1;
	if (proto_header_decode(hdr, type, len) == -1) {
		snprintf(err, errlen, "bad frame from the daemon");
		return -1;
	}
	return dial_read_full(fd, deadline, buf, *len, err, errlen);
}

/* Write one whole frame (blocking socket). */
int
dial_write_frame(int fd, uint16_t type, const void *p, size_t len)
{
	uint8_t hdr[PROTO_HEADER_LEN];
	struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)p, len } };
	size_t left = sizeof hdr + len;

	proto_header_encode(hdr, type, (uint32_t)len);
	while (left > 0) {
		ssize_t n = writev(fd, iov, 2);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		left -= (size_t)n;
		for (int i = 0; i < 2 && n > 0; i++) {
			size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;

			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= (ssize_t)k;
		}
	}
	return 0;
}
