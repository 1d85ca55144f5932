/* `persh ssh-conn`: the embedded SSH endpoint's child for one connection,
 * started by the supervisor (sshd.c) with fd 3 = the client's TCP socket and
 * fd 4 = a socketpair to the supervisor.
 *
 * This file owns the process and the transport: the libssh server session
 * on one libevent loop, key exchange, public-key authentication against
 * authorized_keys, the login grace time, SSH keepalives, and the end. The
 * channel and what runs in it are sshconn_chan.c's.
 *
 * libssh runs non-blocking inside the loop (see notes/libraries.md):
 * libevent watches a dup() of the socket (libssh closes its own fd on
 * errors); on readable we run the key exchange or one ssh_event_dopoll(0);
 * after every libssh call we check whether the session closed, and we watch
 * for writability only while libssh has output pending. libssh callbacks
 * only record what happened; everything that acts on it, and every free,
 * happens afterwards in sc_step.
 *
 * Nothing is written to fd 4 before the client has authenticated and asked
 * for something: the supervisor counts the connection as unauthenticated
 * until the first byte arrives there. */
#include "sshconn.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <libssh/server.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authkeys.h"
#include "cmd.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "sshd.h"
#include "util.h"

struct sshconn sc;

static void sc_step(void);

/* A client-chosen string made safe for one log line. */
static void
sc_clean(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src != NULL && *src != '\0' && i + 1 < cap; src++) {
		unsigned char c = (unsigned char)*src;

		dst[i++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[i] = '\0';
}

/* Where to log: the daemon's own target. With log = auto the daemon logs to
 * stderr in the foreground, and then our stderr is its stderr; otherwise
 * our stderr is /dev/null and we follow its background rule. */
static int
sc_log_open(void)
{
	struct stat st, null;
	struct control_paths cp;
	const char *target = cfg->daemon_log;
	char buf[300], err[256];

	if (strcmp(target, "auto") == 0) {
		if (fstat(STDERR_FILENO, &st) == 0 &&
		    !(S_ISCHR(st.st_mode) && stat("/dev/null", &null) == 0 &&
			st.st_rdev == null.st_rdev))
			target = "stderr";
		else if (stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode))
			target = "syslog";
		else if (control_paths(&cp, err, sizeof err) == 0) {
			snprintf(buf, sizeof buf, "%s/persh.log", cp.dir);
			target = buf;
		} else
			target = "syslog";
	}
	return log_open(target, cfg->daemon_log_level, 1);
}

/* Ask for the next step once the current callback has returned (from
 * places that must not act at once: peer and libssh callbacks). */
void
sc_kick(void)
{
	if (sc.step_ev != NULL && !sc.done)
		event_active(sc.step_ev, 0, 0);
}

/* The first byte went to the supervisor: it counts us as a client now, and
 * the login grace no longer applies. */
void
sc_spoke(void)
{
	if (sc.spoke)
		return;
	sc.spoke = 1;
	loop_timer_set(sc.grace, -1);
}

/* The transport died: tell the supervisor, as a client of its would, so
 * that it counts the session as lost for that reason. Only once we have
 * spoken (in bridge mode: once a whole frame of the client's went through,
 * and we only ever pass whole frames, so this lands on a frame boundary). */
void
sc_peer_gone(uint16_t end)
{
	uint8_t buf[2];

	if (sc.sup == NULL || !sc.spoke)
		return;
	put16(buf, end);
	peer_send(sc.sup, PROTO_GONE, buf, sizeof buf, NULL, 0);
}

/* Leave: let go of fd 4 (what is queued there still goes out), hang up on
 * the client, and stop watching everything, so that the loop ends. Never
 * called from a libssh callback. disconnect: say goodbye on the transport
 * (not when it is dead). */
void
sc_exit(int disconnect)
{
	if (sc.done)
		return;
	sc.done = 1;
	sc_chan_close();
	if (sc.rev != NULL)
		event_del(sc.rev);
	if (sc.wev != NULL)
		event_del(sc.wev);
	sc.writing = 0;
	loop_timer_set(sc.grace, -1);
	loop_timer_set(sc.keepalive, -1);
	loop_timer_set(sc.linger, -1);
	if (sc.sigterm != NULL)
		event_del(sc.sigterm);
	if (sc.sev != NULL) {
		ssh_event_remove_session(sc.sev, sc.ss);
		ssh_event_free(sc.sev);
		sc.sev = NULL;
	}
	if (sc.ss != NULL) {
		/* Both free the channel: forget it. */
		if (disconnect && !sc.dead && sc.kex_done)
			ssh_disconnect(sc.ss);
		else
			ssh_silent_disconnect(sc.ss);
		sc.ch = NULL;
	}
	sc.dead = 1;
	if (sc.tcp != -1) {
		close(sc.tcp);
		sc.tcp = -1;
	}
}

/* Did the transport end? Then say why and leave; 1 if so. */
static int
sc_check_transport(void)
{
	const char *err;
	int st;

	if (sc.done || sc.dead)
		return 0;
	st = ssh_get_status(sc.ss);
	if (!(st & (SSH_CLOSED | SSH_CLOSED_ERROR)))
		return 0;
	sc.dead = 1;
	err = ssh_get_error(sc.ss);
	if (err == NULL)
		err = "";
	if (!sc.authed) {
		log_info("ssh %s: closed before authentication%s%s", sc.peer, err[0] ? ": " : "",
		    err);
	} else if (!sc.closed && (st & SSH_CLOSED_ERROR) &&
	    strstr(err, "Socket error: disconnected") == NULL &&
	    strstr(err, "SSH_MSG_DISCONNECT") == NULL) {
		/* A reset, a TCP_USER_TIMEOUT, a corrupt stream: not a goodbye. */
		log_info("ssh %s: connection failed: %s", sc.peer, err);
		sc_peer_gone(PROTO_END_TCP_ERROR);
	} else {
		log_debug("ssh %s: disconnected%s%s", sc.peer, err[0] ? ": " : "", err);
	}
	sc_exit(0);
	return 1;
}

/* Watch for writability only while libssh has output it could not send. */
static void
sc_watch_write(void)
{
	int want = !sc.done && !sc.dead && (ssh_get_poll_flags(sc.ss) & SSH_WRITE_PENDING);

	if (want && !sc.writing)
		event_add(sc.wev, NULL);
	else if (!want && sc.writing)
		event_del(sc.wev);
	sc.writing = want;
}

/* Everything that follows libssh or the supervisor doing something. */
static void
sc_step(void)
{
	if (sc.in_step) {
		sc.step_again = 1;
		return;
	}
	sc.in_step = 1;
	do {
		sc.step_again = 0;
		if (sc.done || sc_check_transport())
			break;
		if (sc.quit) {
			sc_exit(1);
			break;
		}
		if (sc.kex_done)
			sc_chan_step();
		if (sc.done || sc_check_transport())
			break;
		if (sc.quit) {
			sc_exit(1);
			break;
		}
		sc_watch_write();
	} while (sc.step_again);
	sc.in_step = 0;
}

/* The deferred step (sc_kick). */
static void
sc_step_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sc_step();
}

/* Run the key exchange as far as the input allows. */
static void
sc_kex(void)
{
	int rc = ssh_handle_key_exchange(sc.ss);

	if (rc == SSH_AGAIN)
		return;
	if (rc != SSH_OK) {
		log_info("ssh %s: key exchange failed: %s", sc.peer, ssh_get_error(sc.ss));
		sc.dead = 1;
		sc.quit = 1;
		return;
	}
	sc.kex_done = 1;
	sc.sev = ssh_event_new();
	if (sc.sev == NULL || ssh_event_add_session(sc.sev, sc.ss) != SSH_OK) {
		log_error("ssh %s: cannot poll the session", sc.peer);
		sc.quit = 1;
		return;
	}
	log_debug("ssh %s: key exchange done", sc.peer);
}

/* The client's socket is readable or writable. */
static void
sc_io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (sc.done)
		return;
	if (!sc.kex_done)
		sc_kex();
	else if (!sc.dead)
		ssh_event_dopoll(sc.sev, 0);
	sc_step();
}

/* "ssh-ed25519 SHA256:..." for log lines. */
static void
sc_key_id(ssh_key key, char *buf, size_t len)
{
	const char *type = ssh_key_type_to_char(ssh_key_type(key));
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0)
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	snprintf(buf, len, "%s %s", type != NULL ? type : "unknown", fp != NULL ? fp : "?");
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
}

/* Public-key authentication: called once for the probe (is this key
 * acceptable?) and once with a verified signature. The user name is only
 * logged: the endpoint serves the daemon's own uid. */
static int
sc_auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *key, char state, void *ud)
{
	char who[65], id[160];
	int listed;

	(void)s;
	(void)ud;
	if (sc.authed || sc.quit)
		return SSH_AUTH_DENIED;
	listed = sc.keys != NULL && authkeys_match(sc.keys, key);
	sc_clean(who, sizeof who, user);
	sc_key_id(key, id, sizeof id);
	if (listed && state == SSH_PUBLICKEY_STATE_NONE) {
		log_debug("ssh %s: public key accepted for a signature (%s) for user %s", sc.peer,
		    id, who);
		return SSH_AUTH_SUCCESS;
	}
	if (listed && state == SSH_PUBLICKEY_STATE_VALID) {
		sc.authed = 1;
		log_info("ssh %s: authenticated (%s) as user %s", sc.peer, id, who);
		loop_timer_set(sc.keepalive, cfg->ssh_keepalive_interval);
		return SSH_AUTH_SUCCESS;
	}
	log_info("ssh %s: public key refused (%s) for user %s%s", sc.peer, id, who,
	    listed ? ": bad signature" : "");
	if (++sc.auth_failures >= SC_MAX_AUTH_TRIES) {
		log_info("ssh %s: too many authentication failures", sc.peer);
		sc.quit = 1;
	}
	return SSH_AUTH_DENIED;
}

/* SSH keepalives: a tick with no packet at all from the client since the
 * last one is a miss; keepalive_count misses in a row and the transport is
 * declared dead. Two requests per tick: libssh 0.10 resets its one
 * global-request slot on every other call without sending anything. */
static void
sc_keepalive(void *arg)
{
	(void)arg;
	if (sc.done || sc.dead)
		return;
	if (sc.raw_cnt.in_packets == sc.ka_seen) {
		if (++sc.ka_missed >= cfg->ssh_keepalive_count) {
			log_info("ssh %s: keepalive_timeout", sc.peer);
			sc_peer_gone(PROTO_END_KEEPALIVE_TIMEOUT);
			sc.dead = 1;
			sc_exit(0);
			return;
		}
	} else {
		sc.ka_missed = 0;
		sc.ka_seen = sc.raw_cnt.in_packets;
	}
	ssh_send_keepalive(sc.ss);
	ssh_send_keepalive(sc.ss);
	loop_timer_set(sc.keepalive, cfg->ssh_keepalive_interval);
	sc_step();
}

/* login_grace passed before the client got anywhere. */
static void
sc_grace(void *arg)
{
	(void)arg;
	if (sc.done || sc.spoke)
		return;
	if (sc.authed)
		log_info("ssh %s: no session started within the login grace time", sc.peer);
	else
		log_info("ssh %s: login grace time exceeded", sc.peer);
	sc_exit(1);
}

/* The exit status went out and the client did not hang up in time (or the
 * output never drained). */
static void
sc_linger(void *arg)
{
	(void)arg;
	if (sc.done)
		return;
	log_debug("ssh %s: closing: the client did not disconnect in time", sc.peer);
	sc_exit(1);
}

/* SIGTERM (the supervisor stopping): hang up. */
static void
sc_sigterm(void *arg)
{
	(void)arg;
	log_debug("ssh %s: terminated", sc.peer);
	sc_exit(1);
}

/* authorized_keys: [ssh] authorized_keys, else ~/.ssh/authorized_keys of
 * our uid. Without it every key is refused. */
static void
sc_load_keys(void)
{
	char path[4096], err[600];
	struct passwd *pw;

	if (cfg->ssh_authorized_keys[0] != '\0') {
		snprintf(path, sizeof path, "%s", cfg->ssh_authorized_keys);
	} else {
		pw = getpwuid(getuid());
		if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/') {
			log_warn("ssh %s: no home directory, hence no authorized_keys: every key "
				 "is refused", sc.peer);
			return;
		}
		snprintf(path, sizeof path, "%s/.ssh/authorized_keys", pw->pw_dir);
	}
	sc.keys = authkeys_load(path, err, sizeof err);
	if (sc.keys == NULL)
		log_warn("ssh %s: %s; every key is refused", sc.peer, err);
}

/* The libssh server session on fd 3; -1 if it cannot start. */
static int
sc_setup(void)
{
	char path[4096];
	ssh_key key = NULL;
	bool no = false;

	if (sshd_host_key_path(path, sizeof path) == -1 ||
	    ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
		log_error("ssh %s: cannot read the SSH host key", sc.peer);
		return -1;
	}
	sc.bind = ssh_bind_new();
	if (sc.bind == NULL) {
		ssh_key_free(key);
		return -1;
	}
	/* The bind owns the key from here. */
	if (ssh_bind_options_set(sc.bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
	    ssh_bind_options_set(sc.bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {
		log_error("ssh %s: cannot use the SSH host key %s", sc.peer, path);
		return -1;
	}
	sc_load_keys();

	/* libssh writes only after poll said the socket is writable, and sends
	 * all it holds: on a blocking socket that could stall the loop. */
	fd_set_nonblock(3, 1);
	sc.tcp = fcntl(3, F_DUPFD_CLOEXEC, 5);
	sc.ss = ssh_new();
	if (sc.tcp == -1 || sc.ss == NULL || ssh_bind_accept_fd(sc.bind, sc.ss, 3) != SSH_OK) {
		log_error("ssh %s: cannot start the SSH session", sc.peer);
		return -1;
	}
	ssh_set_blocking(sc.ss, 0);
	ssh_callbacks_init(&sc.scb);
	sc.scb.auth_pubkey_function = sc_auth_pubkey;
	sc.scb.channel_open_request_session_function = sc_chan_open;
	ssh_set_server_callbacks(sc.ss, &sc.scb);
	ssh_set_auth_methods(sc.ss, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_counters(sc.ss, &sc.sock_cnt, &sc.raw_cnt);

	sc.rev = event_new(loop_base(), sc.tcp, EV_READ | EV_PERSIST, sc_io_cb, NULL);
	sc.wev = event_new(loop_base(), sc.tcp, EV_WRITE | EV_PERSIST, sc_io_cb, NULL);
	sc.step_ev = event_new(loop_base(), -1, 0, sc_step_cb, NULL);
	if (sc.rev == NULL || sc.wev == NULL || sc.step_ev == NULL)
		return -1;
	event_add(sc.rev, NULL);
	sc.grace = loop_timer_new(sc_grace, NULL);
	sc.keepalive = loop_timer_new(sc_keepalive, NULL);
	sc.linger = loop_timer_new(sc_linger, NULL);
	sc.sigterm = loop_signal(SIGTERM, sc_sigterm, NULL);
	loop_timer_set(sc.grace, cfg->ssh_login_grace);
	sc_chan_setup();

	/* Our banner goes first. */
	sc_kex();
	sc_step();
	return 0;
}

/* Free what is left once the loop is over. */
static void
sc_cleanup(void)
{
	sc_chan_cleanup();
	if (sc.rev != NULL)
		event_free(sc.rev);
	if (sc.wev != NULL)
		event_free(sc.wev);
	if (sc.step_ev != NULL)
		event_free(sc.step_ev);
	loop_event_free(sc.grace);
	loop_event_free(sc.keepalive);
	loop_event_free(sc.linger);
	loop_event_free(sc.sigterm);
	if (sc.ss != NULL)
		ssh_free(sc.ss);
	if (sc.bind != NULL)
		ssh_bind_free(sc.bind);
	authkeys_free(sc.keys);
	if (sc.tcp != -1)
		close(sc.tcp);
	if (loop_base() != NULL)
		loop_done();
}

/* persh ssh-conn [-c FILE] PEER (internal: started by the daemon). */
int
cmd_ssh_conn(int argc, char **argv)
{
	const char *path = NULL;
	struct stat st3, st4;
	int c, rc = -1;

	optind = 1;
	while ((c = getopt(argc, argv, "+c:")) != -1) {
		if (c != 'c')
			goto usage;
		path = optarg;
	}
	if (argc - optind != 1 || fstat(3, &st3) == -1 || !S_ISSOCK(st3.st_mode) ||
	    fstat(4, &st4) == -1 || !S_ISSOCK(st4.st_mode))
		goto usage;
	cmd_config(path);
	memset(&sc, 0, sizeof sc);
	sc.tcp = -1;
	sc_clean(sc.peer, sizeof sc.peer, argv[optind]);
	if (sc_log_open() == -1)
		log_open("syslog", cfg->daemon_log_level, 1);
	if (loop_init() != NULL)
		rc = sc_setup();
	if (rc == 0)
		loop_run();
	sc_cleanup();
	log_close();
	return rc == 0 ? EXIT_OK : EXIT_ERROR;

usage:
	fprintf(stderr, "persh: ssh-conn is started by the daemon for each SSH connection\n");
	return EXIT_USAGE;
}
