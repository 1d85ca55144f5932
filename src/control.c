/* The control socket: where it lives, the daemon's lock, and accepting
 * connections from processes of our own uid. */
#include "control.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "util.h"

/* When accept fails for lack of fds, wait this long before trying again. */
#define CONTROL_BACKOFF_MS 200

static int listen_fd = -1, lock_fd = -1;
static int starved; /* accept ran out of fds: said once, until it works again */
static struct event *accept_ev, *backoff_timer;
static struct control_paths paths;

/* Copy a formatted path; -1 if it does not fit. */
static int
control_fmt(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s", a, b);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Where the runtime dir, socket and pid file are. */
int
control_paths(struct control_paths *cp, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char dir[256];
	int n;

	if (cfg->daemon_runtime_dir[0] != '\0')
		n = snprintf(dir, sizeof dir, "%s", cfg->daemon_runtime_dir);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(dir, sizeof dir, "%s/persh", xdg);
	else
		n = snprintf(dir, sizeof dir, "/tmp/persh-%u", (unsigned)getuid());
	/* sun_path holds 108 bytes including "/persh.sock" and the NUL. */
	if (n < 0 || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path) - 12 ||
	    control_fmt(cp->dir, sizeof cp->dir, dir, "") == -1 ||
	    control_fmt(cp->sock, sizeof cp->sock, dir, "/persh.sock") == -1 ||
	    control_fmt(cp->pid, sizeof cp->pid, dir, "/persh.pid") == -1) {
		snprintf(err, errlen, "runtime directory path too long: %s", dir);
		return -1;
	}
	return 0;
}

/* Create (or check) the runtime dir: ours, a real directory, mode 0700.
 * Returns the mode it had when it was too open and we closed it (the
 * caller logs that: it may run before the log is open), else 0; -1 with a
 * reason if the dir cannot be used. */
int
control_mkdir(const struct control_paths *cp, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(cp->dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", cp->dir, strerror(errno));
		return -1;
	}
	if (lstat(cp->dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", cp->dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
		snprintf(err, errlen, "%s is not a directory owned by uid %u; refusing to use it",
		    cp->dir, (unsigned)getuid());
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		/* Our own directory, too open: close it rather than expose the socket. */
		if (chmod(cp->dir, 0700) == -1) {
			snprintf(err, errlen, "cannot chmod %s: %s", cp->dir, strerror(errno));
			return -1;
		}
		return (int)(st.st_mode & 0777);
	}
	return 0;
}

/* Refuse a connection from another uid, saying why in an ERROR frame. */
static void
control_refuse(int fd, const struct ucred *cr)
{
	uint8_t buf[PROTO_HEADER_LEN + 3 + PROTO_MAX_TEXT];
	size_t n = proto_text_encode(buf + PROTO_HEADER_LEN, PROTO_E_PERM,
	    "permission denied: this daemon serves another user");

	log_warn("refused connection from uid %u (pid %d): not our uid %u", (unsigned)cr->uid,
	    (int)cr->pid, (unsigned)getuid());
	proto_header_encode(buf, PROTO_ERROR, (uint32_t)n);
	(void)!write(fd, buf, PROTO_HEADER_LEN + n);
	close(fd);
}

/* Let accepting resume after running out of fds. */
static void
control_backoff_done(void *arg)
{
	(void)arg;
	event_add(accept_ev, NULL);
}

/* Accept every pending connection and check the peer's uid. */
static void
control_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	(void)arg;
	for (;;) {
		struct ucred cr;
		socklen_t len = sizeof cr;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Once per episode: retried every CONTROL_BACKOFF_MS. */
				if (!starved)
					log_warn("accept: %s; connections wait until fds are free",
					    strerror(errno));
				starved = 1;
				event_del(accept_ev);
				loop_timer_set(backoff_timer, CONTROL_BACKOFF_MS);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		if (starved) {
			log_info("accept: fds available again");
			starved = 0;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
			log_warn("SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (cr.uid != getuid()) {
			control_refuse(fd, &cr);
			continue;
		}
		client_new(fd, cr.pid, cr.uid, NULL);
	}
}

/* Take the lock: the pid file, flock'ed for the daemon's whole life. */
static int
control_lock(const struct control_paths *cp, char *err, size_t errlen)
{
	char buf[32];
	ssize_t n;
	int len;

	lock_fd = open(cp->pid, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock_fd == -1) {
		snprintf(err, errlen, "cannot open %s: %s", cp->pid, strerror(errno));
		return -1;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(lock_fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "a daemon is already running (pid %s) on %s",
		    buf[0] ? buf : "?", cp->sock);
		close(lock_fd);
		lock_fd = -1;
		return -1;
	}
	len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(lock_fd, 0) == -1 || pwrite(lock_fd, buf, (size_t)len, 0) != len) {
		snprintf(err, errlen, "cannot write %s: %s", cp->pid, strerror(errno));
		return -1;
	}
	return 0;
}

/* Take the lock, replace a stale socket, listen. */
int
control_open(const struct control_paths *cp, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int mode;

	paths = *cp;
	if ((mode = control_mkdir(cp, err, errlen)) > 0)
		log_warn("%s was mode %03o; set it to 0700", cp->dir, (unsigned)mode);
	if (mode == -1 || control_lock(cp, err, errlen) == -1)
		return -1;
	/* We hold the lock, so whatever socket is there belongs to a dead daemon. */
	if (unlink(cp->sock) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale %s: %s", cp->sock, strerror(errno));
		return -1;
	}
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, cp->sock, strnlen(cp->sock, sizeof sa.sun_path - 1));
	old = umask(0177);
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", cp->sock, strerror(errno));
		return -1;
	}
	umask(old);
	if (listen(listen_fd, 256) == -1) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		return -1;
	}
	accept_ev = event_new(loop_base(), listen_fd, EV_READ | EV_PERSIST, control_accept, NULL);
	backoff_timer = loop_timer_new(control_backoff_done, NULL);
	event_add(accept_ev, NULL);
	log_info("listening on %s", cp->sock);
	return 0;
}

/* Stop listening, remove socket and pid file. */
void
control_close(void)
{
	if (accept_ev != NULL) {
		event_free(accept_ev);
		accept_ev = NULL;
		loop_event_free(backoff_timer);
		backoff_timer = NULL;
	}
	if (listen_fd != -1) {
		close(listen_fd);
		unlink(paths.sock);
		listen_fd = -1;
	}
	if (lock_fd != -1) {
		/* Emptied, not removed: unlinking a lock file races a starting daemon. */
		(void)!ftruncate(lock_fd, 0);
		close(lock_fd);
		lock_fd = -1;
	}
}
