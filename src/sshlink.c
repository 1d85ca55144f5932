/* The link of a remote attach: a child process that reaches HOST with the
 * libssh client and runs `persh bridge NAME` there, then relays the
 * channel to a socketpair verbatim.
 *
 * Connecting, host key checks and authentication block, so they happen in
 * this child, never in the client that owns the terminal: its detach key
 * and its status line keep working while a connect hangs. The child ends
 * with an exit code that says what happened (enum sshlink_exit): whether a
 * retry can help is decided from libssh's return codes, never from the
 * text of a message. The text goes back on a pipe for the user. */
#include "sshlink.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

/* Relay buffer per direction. */
#define SSHLINK_BUF 65536

static int errfd = -1;

/* Say why on the error pipe, then leave with code. */
static void __attribute__((noreturn, format(printf, 2, 3)))
sshlink_die(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n > 0 && errfd != -1)
		(void)!write(errfd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
	_exit(code);
}

/* Ask on the terminal, as ssh does, whether to trust an unknown host key.
 * Only the first connection can ask: later ones have no terminal to ask on
 * (it is in raw mode, relaying a session) and refuse. */
static int
sshlink_ask(const char *host, const char *fp, const char *type)
{
	char answer[16];
	FILE *tty = fopen("/dev/tty", "r+e");
	int yes = 0;

	if (tty == NULL)
		return 0;
	fprintf(tty,
	    "The authenticity of host '%s' can't be established.\n"
	    "%s key fingerprint is %s.\n"
	    "Are you sure you want to continue connecting (yes/no)? ",
	    host, type, fp);
	fflush(tty);
	if (fgets(answer, sizeof answer, tty) != NULL)
		yes = strcmp(answer, "yes\n") == 0;
	fclose(tty);
	return yes;
}

/* Check the server's key against known_hosts; exits unless trusted. */
static void
sshlink_known_host(ssh_session s, const struct sshlink_target *t)
{
	enum ssh_known_hosts_e state = ssh_session_is_known_server(s);
	unsigned char *hash = NULL;
	size_t hlen;
	ssh_key key = NULL;
	char *fp = NULL;
	const char *type = "?";

	if (state == SSH_KNOWN_HOSTS_OK)
		return;
	if (ssh_get_server_publickey(s, &key) == SSH_OK) {
		type = ssh_key_type_to_char(ssh_key_type(key));
		if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0)
			fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	}
	switch (state) {
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		sshlink_die(SSHLINK_HOSTKEY,
		    "host key for %s has CHANGED (now %s %s): refusing to connect; if this is "
		    "expected, remove the old key from known_hosts",
		    t->host, type, fp ? fp : "?");
	case SSH_KNOWN_HOSTS_NOT_FOUND:
	case SSH_KNOWN_HOSTS_UNKNOWN:
		if (!t->may_ask || fp == NULL || !sshlink_ask(t->host, fp, type))
			sshlink_die(SSHLINK_HOSTKEY, "host key for %s (%s %s) is not known: refusing",
			    t->host, type, fp ? fp : "?");
		if (ssh_session_update_known_hosts(s) != SSH_OK)
			sshlink_die(SSHLINK_HOSTKEY, "cannot save the host key: %s", ssh_get_error(s));
		break;
	default:
		sshlink_die(SSHLINK_HOSTKEY, "cannot check the host key of %s: %s", t->host,
		    ssh_get_error(s));
	}
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
}

/* The client let go of us: deliver what it sent last (its EXIT_SEEN, a
 * DETACH), close the channel cleanly, and leave. */
static void __attribute__((noreturn))
sshlink_close(ssh_session s, ssh_channel ch, const uint8_t *up, size_t uplen)
{
	ssh_set_blocking(s, 1);
	while (uplen > 0) {
		int n = ssh_channel_write(ch, up, (uint32_t)uplen);

		if (n <= 0)
			break;
		up += n;
		uplen -= (size_t)n;
	}
	ssh_channel_send_eof(ch);
	ssh_channel_close(ch);
	ssh_disconnect(s);
	_exit(SSHLINK_CLOSED);
}

/* Relay channel <-> fd until either side ends; keepalives while quiet. */
static void __attribute__((noreturn))
sshlink_relay(ssh_session s, ssh_channel ch, int fd)
{
	static uint8_t up[SSHLINK_BUF], down[SSHLINK_BUF];
	size_t uplen = 0, downlen = 0;
	/* libssh counts bytes in the first counter and packets in the second. */
	struct ssh_counter_struct sock = { 0 }, raw = { 0 };
	uint64_t last_in = 0;
	int64_t next_ka = now_ms() + cfg->ssh_keepalive_interval;
	unsigned misses = 0;
	int sfd = ssh_get_fd(s), got_any = 0;

	ssh_set_counters(s, &sock, &raw);
	fd_set_nonblock(fd, 1);
	for (;;) {
		struct pollfd p[2] = {
			{ sfd, POLLIN, 0 },
			{ fd, (short)((uplen < sizeof up ? POLLIN : 0) | (downlen > 0 ? POLLOUT : 0)), 0 },
		};
		int64_t wait = next_ka - now_ms();
		int n;

		if (poll(p, 2, wait > 0 ? (int)wait : 0) == -1 && errno != EINTR)
			sshlink_die(SSHLINK_LOST, "poll: %s", strerror(errno));
		/* from the far side */
		while (downlen < sizeof down) {
			n = ssh_channel_read_nonblocking(ch, down + downlen,
			    (uint32_t)(sizeof down - downlen), 0);
			if (n == SSH_ERROR)
				sshlink_die(SSHLINK_LOST, "%s", ssh_get_error(s));
			if (n <= 0)
				break;
			downlen += (size_t)n;
			got_any = 1;
		}
		if (downlen > 0) {
			ssize_t w = write(fd, down, downlen);

			if (w < 0 && errno != EAGAIN && errno != EINTR)
				_exit(SSHLINK_CLOSED); /* the client let go of us */
			if (w > 0) {
				memmove(down, down + w, downlen - (size_t)w);
				downlen -= (size_t)w;
			}
		}
		if (ssh_channel_is_eof(ch) && downlen == 0) {
			if (!got_any && ssh_channel_get_exit_status(ch) > 0)
				sshlink_die(SSHLINK_REMOTE,
				    "the remote command failed (is persh installed on the host?)");
			_exit(SSHLINK_CLOSED);
		}
		/* to the far side */
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(fd, up + uplen, sizeof up - uplen);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				sshlink_close(s, ch, up, uplen);
			if (r > 0)
				uplen += (size_t)r;
		}
		if (uplen > 0) {
			n = ssh_channel_write(ch, up, (uint32_t)uplen);
			if (n == SSH_ERROR)
				sshlink_die(SSHLINK_LOST, "%s", ssh_get_error(s));
			if (n > 0) {
				memmove(up, up + n, uplen - (size_t)n);
				uplen -= (size_t)n;
			}
		}
		/* SSH keepalives: a peer that sends nothing for count intervals
		 * is gone (the framed protocol's heartbeats keep a live one busy). */
		if (now_ms() >= next_ka) {
			if (raw.in_packets == last_in) {
				if (++misses >= cfg->ssh_keepalive_count)
					sshlink_die(SSHLINK_LOST, "no answer to %u SSH keepalives",
					    misses);
			} else {
				misses = 0;
			}
			last_in = raw.in_packets;
			/* libssh 0.10 sends only every other call: call twice. */
			ssh_send_keepalive(s);
			ssh_send_keepalive(s);
			next_ka = now_ms() + cfg->ssh_keepalive_interval;
		}
	}
}

/* The child: connect, check, authenticate, run the bridge, relay. */
static void __attribute__((noreturn))
sshlink_child(const struct sshlink_target *t, int fd)
{
	ssh_session s = ssh_new();
	ssh_channel ch;
	char cmd[128];
	long timeout = (long)((cfg->heartbeat_timeout + 999) / 1000);
	int rc;

	if (s == NULL)
		sshlink_die(SSHLINK_LOST, "out of memory");
	ssh_options_set(s, SSH_OPTIONS_HOST, t->host);
	if (t->user[0] != '\0')
		ssh_options_set(s, SSH_OPTIONS_USER, t->user);
	if (ssh_options_parse_config(s, cfg->client_ssh_config[0] ? cfg->client_ssh_config : NULL) < 0)
		sshlink_die(SSHLINK_CONFIG, "cannot read the ssh configuration");
	/* The command line wins over the config file, as with ssh. */
	if (t->port != 0)
		ssh_options_set(s, SSH_OPTIONS_PORT, &t->port);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);

	if (ssh_connect(s) != SSH_OK)
		sshlink_die(SSHLINK_CONNECT, "cannot connect to %s: %s", t->host, ssh_get_error(s));
	sshlink_known_host(s, t);
	rc = ssh_userauth_publickey_auto(s, NULL, NULL);
	if (rc == SSH_AUTH_ERROR)
		sshlink_die(SSHLINK_LOST, "connection lost during authentication: %s", ssh_get_error(s));
	if (rc != SSH_AUTH_SUCCESS)
		sshlink_die(SSHLINK_AUTH, "authentication to %s refused (public key)", t->host);
	ch = ssh_channel_new(s);
	if (ch == NULL || ssh_channel_open_session(ch) != SSH_OK)
		sshlink_die(SSHLINK_LOST, "cannot open a channel on %s: %s", t->host,
		    ssh_get_error(s));
	/* "persh bridge NAME": a stock sshd runs the persh binary; the
	 * embedded endpoint takes the same command line. */
	snprintf(cmd, sizeof cmd, "persh bridge %s", t->name);
	if (ssh_channel_request_exec(ch, cmd) != SSH_OK)
		sshlink_die(SSHLINK_REMOTE, "%s refused to run '%s': %s", t->host, cmd,
		    ssh_get_error(s));
	sshlink_relay(s, ch, fd);
}

/* Start a link; returns the child's pid with *fd (our end of the relay)
 * and *err_fd (its messages), or -1. */
pid_t
sshlink_start(const struct sshlink_target *t, int *fd, int *err_fd)
{
	int sp[2], ep[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		return -1;
	if (pipe2(ep, O_CLOEXEC) == -1) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		close(sp[0]);
		close(ep[0]);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		errfd = ep[1];
		/* Not the terminal's: a Ctrl-C there is a keystroke for the session. */
		if (!t->may_ask)
			setsid();
		sshlink_child(t, sp[1]);
	}
	close(sp[1]);
	close(ep[1]);
	if (pid == -1) {
		close(sp[0]);
		close(ep[0]);
		return -1;
	}
	*fd = sp[0];
	*err_fd = ep[0];
	return pid;
}

/* Whether a link that ended with this exit code is worth trying again. */
int
sshlink_retriable(int code)
{
	switch (code) {
	case SSHLINK_CLOSED:
	case SSHLINK_CONNECT:
	case SSHLINK_LOST:
		return 1;
	}
	return 0; /* auth, host key, remote command, config: trying again cannot help */
}

/* Split "[USER@]HOST[:PORT]/NAME"; 0, or -1 if it is not of that form. */
int
sshlink_parse(const char *arg, struct sshlink_target *t)
{
	const char *slash = strrchr(arg, '/'), *at, *host, *colon;
	size_t hlen;

	memset(t, 0, sizeof *t);
	if (slash == NULL || slash == arg)
		return -1;
	snprintf(t->name, sizeof t->name, "%.*s", (int)sizeof t->name - 1, slash + 1);
	at = memchr(arg, '@', (size_t)(slash - arg));
	host = at != NULL ? at + 1 : arg;
	if (at != NULL) {
		if (at == arg || (size_t)(at - arg) >= sizeof t->user)
			return -1;
		memcpy(t->user, arg, (size_t)(at - arg));
	}
	colon = memchr(host, ':', (size_t)(slash - host));
	hlen = (size_t)((colon != NULL ? colon : slash) - host);
	if (hlen == 0 || hlen >= sizeof t->host || memchr(host, '/', hlen) != NULL)
		return -1;
	memcpy(t->host, host, hlen);
	if (colon != NULL) {
		char *end;
		unsigned long p = strtoul(colon + 1, &end, 10);

		if (end != slash || p == 0 || p > 65535)
			return -1;
		t->port = (unsigned)p;
	}
	return 0;
}
