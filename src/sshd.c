/* The embedded SSH endpoint, supervisor side: the listener, the host key,
 * and one child per connection.
 *
 * The supervisor never touches SSH traffic. Each accepted connection is
 * handed to a fresh `persh ssh-conn` process (fork and exec, so it starts
 * from a clean image, as sshd re-execs), which terminates SSH, runs the
 * keepalives, and speaks the ordinary framed protocol to us over a
 * socketpair. A child says nothing on it until its client has
 * authenticated; until then it counts against [ssh] max_unauth and is
 * killed at [ssh] login_grace. After that it is just a client. */
#include "sshd.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "util.h"

struct sshd_child {
	pid_t pid;
	int fd;            /* our end of the socketpair, until authenticated */
	struct event *ev;  /* first byte on fd means authenticated */
	struct event *grace;
	char peer[64];
	char source[64];   /* peer without the port: what max_unauth_per_source counts */
	TAILQ_ENTRY(sshd_child) entry;
};

static TAILQ_HEAD(, sshd_child) pending = TAILQ_HEAD_INITIALIZER(pending);
static unsigned npending;
static struct listener *listener;
static const char *conf_path;

/* Default host key path: $XDG_STATE_HOME/persh/..., else ~/.local/state. */
int
sshd_host_key_path(char *buf, size_t len)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (cfg->ssh_host_key[0] != '\0')
		n = snprintf(buf, len, "%s", cfg->ssh_host_key);
	else if (state != NULL && state[0] == '/')
		n = snprintf(buf, len, "%s/persh/ssh_host_ed25519_key", state);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, len, "%s/.local/state/persh/ssh_host_ed25519_key", home);
	else
		return -1;
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* mkdir -p for the key's directory, mode 0700 for what we create. */
static int
sshd_mkdirs(const char *file)
{
	char dir[4096];
	char *p;

	snprintf(dir, sizeof dir, "%s", file);
	p = strrchr(dir, '/');
	if (p == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(dir, 0700) == -1 && errno != EEXIST ? -1 : 0;
}

/* Check the host key, or make one: ed25519, mode 0600. A key others can
 * read is refused, as sshd refuses it. */
static int
sshd_host_key(char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	ssh_key key = NULL;
	mode_t old;
	int rc;

	if (sshd_host_key_path(path, sizeof path) == -1) {
		snprintf(err, errlen, "no place for the SSH host key: set [ssh] host_key");
		return -1;
	}
	if (stat(path, &st) == 0) {
		if ((st.st_mode & 077) != 0) {
			snprintf(err, errlen, "SSH host key %s is accessible by others (mode %03o); "
			    "chmod 600 it", path, st.st_mode & 0777);
			return -1;
		}
		if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
			snprintf(err, errlen, "SSH host key %s cannot be read", path);
			return -1;
		}
		ssh_key_free(key);
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "SSH host key %s: %s", path, strerror(errno));
		return -1;
	}
	if (sshd_mkdirs(path) == -1) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(errno));
		return -1;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
		snprintf(err, errlen, "cannot generate an ed25519 host key");
		return -1;
	}
	old = umask(077);
	rc = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path);
	umask(old);
	ssh_key_free(key);
	if (rc != SSH_OK || chmod(path, 0600) == -1) {
		snprintf(err, errlen, "cannot write the SSH host key %s", path);
		return -1;
	}
	log_info("generated SSH host key %s", path);
	return 0;
}

/* Keepalives at the TCP level too: they catch a dropped route in seconds
 * even when SSH is idle (a frozen peer's kernel still ACKs, so the SSH
 * keepalives are what catch that). */
static void
sshd_tcp_options(int fd)
{
	int on = 1, idle = (int)(cfg->ssh_keepalive_interval / 1000), cnt = (int)cfg->ssh_keepalive_count;
	unsigned timeout = (unsigned)(cfg->ssh_keepalive_interval * cfg->ssh_keepalive_count);

	if (idle < 1)
		idle = 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* Forget a pending child; its socketpair end goes with it unless handed on. */
static void
sshd_child_free(struct sshd_child *ch, int close_fd)
{
	TAILQ_REMOVE(&pending, ch, entry);
	npending--;
	if (ch->ev != NULL)
		event_free(ch->ev);
	loop_event_free(ch->grace);
	if (close_fd && ch->fd != -1)
		close(ch->fd);
	free(ch);
}

/* The child spoke: its client authenticated; from now on it is a client. */
static void
sshd_child_ready(evutil_socket_t fd, short what, void *arg)
{
	struct sshd_child *ch = arg;
	char c;
	ssize_t n;

	(void)what;
	n = recv(fd, &c, 1, MSG_PEEK);
	if (n <= 0) {
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		/* It gave up before authenticating; it logged why. */
		sshd_child_free(ch, 1);
		return;
	}
	char via[80];

	snprintf(via, sizeof via, "ssh %s", ch->peer);
	log_debug("ssh %s: authenticated (child %d)", ch->peer, (int)ch->pid);
	client_new(ch->fd, ch->pid, getuid(), via);
	sshd_child_free(ch, 0);
}

/* login_grace passed without authentication: the child should have left. */
static void
sshd_child_grace(void *arg)
{
	struct sshd_child *ch = arg;

	log_info("ssh %s: login grace time exceeded", ch->peer);
	kill(ch->pid, SIGKILL);
	sshd_child_free(ch, 1);
}

/* The address part of "ADDR:PORT" or "[V6]:PORT". */
static void
sshd_source(const char *peer, char *buf, size_t len)
{
	const char *colon = strrchr(peer, ':');
	int n = colon != NULL ? (int)(colon - peer) : (int)strlen(peer);

	snprintf(buf, len, "%.*s", n, peer);
}

/* How many connections from source have not authenticated yet. */
static unsigned
sshd_pending_from(const char *source)
{
	struct sshd_child *ch;
	unsigned n = 0;

	TAILQ_FOREACH(ch, &pending, entry)
		if (strcmp(ch->source, source) == 0)
			n++;
	return n;
}

/* Start a child for one accepted connection. */
static void
sshd_spawn(int fd, const char *peer, const char *source)
{
	struct sshd_child *ch;
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_error("ssh %s: cannot start a child: %s", peer, strerror(errno));
		close(fd);
		return;
	}
	pid = fork();
	if (pid == -1) {
		log_error("ssh %s: fork: %s", peer, strerror(errno));
		close(fd);
		close(sp[0]);
		close(sp[1]);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		char *argv[6];
		int i = 0;

		/* fd 3: the client's TCP socket; fd 4: the supervisor. */
		if (dup2(fd, 3) == -1 || dup2(sp[1], 4) == -1)
			_exit(127);
		syscall(SYS_close_range, 5U, ~0U, 0U);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Out of the daemon's process group: a Ctrl-C meant for `serve -f`
		 * is not for the connections. */
		setsid();
		/* The daemon's binary by the path it started from (an upgraded
		 * binary there is fine: HELLO checks the protocol version). */
		argv[i++] = "persh";
		argv[i++] = "ssh-conn";
		if (conf_path != NULL) {
			argv[i++] = "-c";
			argv[i++] = (char *)conf_path;
		}
		argv[i++] = (char *)peer;
		argv[i] = NULL;
		self_exec(argv);
		_exit(127);
	}
	close(fd);
	close(sp[1]);
	ch = xcalloc(1, sizeof *ch);
	ch->pid = pid;
	ch->fd = sp[0];
	snprintf(ch->peer, sizeof ch->peer, "%s", peer);
	snprintf(ch->source, sizeof ch->source, "%s", source);
	fd_set_nonblock(ch->fd, 1);
	ch->ev = event_new(loop_base(), ch->fd, EV_READ | EV_PERSIST, sshd_child_ready, ch);
	event_add(ch->ev, NULL);
	ch->grace = loop_timer_new(sshd_child_grace, ch);
	/* The child enforces the grace itself; this is the backstop. */
	loop_timer_set(ch->grace, cfg->ssh_login_grace + 1000);
	TAILQ_INSERT_TAIL(&pending, ch, entry);
	npending++;
	log_debug("ssh %s: connection, child %d", peer, (int)pid);
}

/* Log connections refused for max_unauth(_per_source), at most once a
 * second with a count, so that a flood cannot flood the log too. */
static void
sshd_refused(const char *peer, const char *why)
{
	static int64_t last;
	static unsigned quiet;
	int64_t now = now_ms();

	if (last != 0 && now - last < 1000) {
		quiet++;
		return;
	}
	log_warn("ssh %s: refused: %s; %u others refused since the last such line", peer, why,
	    quiet);
	quiet = 0;
	last = now;
}

/* One accepted connection: a child for it, unless too many have not
 * authenticated yet, in all or from its address. The per-source cap is
 * checked first: a flood from one host then never fills the global cap,
 * and users from elsewhere still get in (sshd's MaxStartups alone lets
 * one host lock everyone out). */
static void
sshd_accept(int fd, const char *peer, void *arg)
{
	char source[64], why[160];
	unsigned from;

	(void)arg;
	sshd_source(peer, source, sizeof source);
	from = sshd_pending_from(source);
	if (cfg->ssh_max_unauth_per_source != 0 && from >= cfg->ssh_max_unauth_per_source) {
		snprintf(why, sizeof why, "%u connections from %s not yet authenticated "
		    "(max_unauth_per_source)", from, source);
		sshd_refused(peer, why);
		close(fd);
		return;
	}
	if (npending >= cfg->ssh_max_unauth) {
		snprintf(why, sizeof why, "%u connections not yet authenticated (max_unauth)",
		    npending);
		sshd_refused(peer, why);
		close(fd);
		return;
	}
	sshd_tcp_options(fd);
	sshd_spawn(fd, peer, source);
}

/* Listen on [ssh] listen, making the host key if needed; 0 if disabled. */
int
sshd_open(const char *config_file, char *err, size_t errlen)
{
	conf_path = config_file;
	if (cfg->ssh_listen[0] == '\0')
		return 0;
	if (sshd_host_key(err, errlen) == -1)
		return -1;
	listener = listener_open(cfg->ssh_listen, "[ssh] listen", sshd_accept, NULL, err, errlen);
	if (listener == NULL)
		return -1;
	log_info("SSH endpoint listening on %s", cfg->ssh_listen);
	return 0;
}

/* Stop listening and kill children that never authenticated. */
void
sshd_close(void)
{
	struct sshd_child *ch;

	while ((ch = TAILQ_FIRST(&pending)) != NULL) {
		kill(ch->pid, SIGTERM);
		sshd_child_free(ch, 1);
	}
	listener_close(listener);
	listener = NULL;
}
