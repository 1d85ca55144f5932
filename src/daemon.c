/* `persh serve`: the supervisor's start-up, signals and shutdown. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "control.h"
#include "hangup.h"
#include "restore.h"
#include "log.h"
#include "loop.h"
#include "relay.h"
#include "session.h"
#include "spawn.h"
#include "sshd.h"
#include "util.h"

static const char *config_path; /* re-read on SIGHUP; NULL: defaults only */
static struct control_paths paths;

/* Reap every exited child; signals coalesce, so loop until none is left. */
static void
daemon_sigchld(void *arg)
{
	int status;
	pid_t pid;

	(void)arg;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (session_reaped(pid, status))
			continue;
		/* An SSH connection's child: a crash there costs one connection,
		 * and must be visible. */
		if (WIFSIGNALED(status))
			log_warn("child %d killed by signal %d", (int)pid, WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			log_warn("child %d exited with status %d", (int)pid, WEXITSTATUS(status));
		else
			log_debug("reaped pid %d", (int)pid);
	}
}

/* Re-read the configuration; a bad file keeps the old one. */
static void
daemon_sighup(void *arg)
{
	struct config *next;
	char err[512];

	(void)arg;
	if (config_path == NULL) {
		log_info("SIGHUP: no configuration file to re-read");
		return;
	}
	next = config_new();
	if (config_load(next, config_path, err, sizeof err) == -1) {
		log_error("reload failed, keeping the old configuration: %s", err);
		config_free(next);
		return;
	}
	if (strcmp(next->daemon_runtime_dir, cfg->daemon_runtime_dir) != 0)
		log_warn("reload: [daemon] runtime_dir changes only on restart");
	if (strcmp(next->daemon_log, cfg->daemon_log) != 0)
		log_warn("reload: [daemon] log changes only on restart");
	free(next->daemon_runtime_dir);
	next->daemon_runtime_dir = xstrdup(cfg->daemon_runtime_dir);
	config_free(cfg);
	cfg = next;
	log_set_level(cfg->daemon_log_level);
	log_info("configuration reloaded from %s", config_path);
}

/* SIGTERM or SIGINT: let every client know, hang up shells, leave. */
static void
daemon_sigterm(void *arg)
{
	(void)arg;
	log_info("shutting down");
	sshd_close();
	relay_close();
	session_shutdown();
	restore_shutdown();
	hangup_shutdown();
	client_shutdown();
	control_close();
	loop_exit();
}

/* Fork into the background; the parent exits once the child reports on
 * the pipe that it listens (0) or why it could not (1). Returns in the
 * child the pipe to report on. */
static int
daemon_detach(int quiet)
{
	int fds[2];
	char msg[600];
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		fatal(EXIT_ERROR, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == -1)
		fatal(EXIT_ERROR, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(fds[1]);
		while ((n = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0 ||
		    (n == -1 && errno == EINTR))
			got += n > 0 ? (size_t)n : 0;
		msg[got] = '\0';
		waitpid(pid, NULL, 0);
		if (strcmp(msg, "OK") == 0)
			_exit(EXIT_OK);
		if (got == 0)
			snprintf(msg, sizeof msg, "the daemon died during start-up");
		if (!quiet || strstr(msg, "already running") == NULL)
			fprintf(stderr, "persh: %s\n", msg);
		_exit(EXIT_ERROR);
	}
	close(fds[0]);
	/* New session, then fork again so the daemon can never regain a
	 * controlling terminal; the middle process exits at once. */
	if (setsid() == -1)
		_exit(EXIT_ERROR);
	pid = fork();
	if (pid != 0)
		_exit(pid == -1 ? EXIT_ERROR : EXIT_OK);
	return fds[1];
}

/* Point stdio at /dev/null once the daemon is in the background. */
static void
daemon_null_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd == -1)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/* Allow as many fds as the hard limit: every session holds a PTY master
 * and every client a socket. The shells get the soft limit we were given
 * back (spawn.c), as Go's os/exec does: select() and close-every-fd
 * loops in them expect the usual soft limit (1024), not ours. */
static void
daemon_rlimit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		spawn_set_nofile((uint64_t)rl.rlim_cur);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Say so when max_sessions attached sessions (a PTY and a client socket
 * each) cannot fit under the fd limit: past it, shells fail to start and
 * connections wait unaccepted. */
static void
daemon_rlimit_check(void)
{
	struct rlimit rl;
	uint64_t want = 2 * (uint64_t)cfg->session_max_sessions + 32;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)rl.rlim_cur < want)
		log_warn("RLIMIT_NOFILE is %llu: too few fds for max_sessions = %u "
		    "attached sessions (about %llu); raise the hard limit (ulimit -Hn, systemd "
		    "LimitNOFILE=) or lower max_sessions", (unsigned long long)rl.rlim_cur,
		    cfg->session_max_sessions, (unsigned long long)want);
}

/* Where the log goes: "auto" in the background is syslog when there is
 * one, else a file in the runtime dir. */
static const char *
daemon_log_target(int foreground, char *buf, size_t len)
{
	struct stat st;
	/* Empty, as for every other path key, means the default. */
	const char *log = cfg->daemon_log[0] != '\0' ? cfg->daemon_log : "auto";

	if (strcmp(log, "auto") != 0 || foreground)
		return log;
	if (stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode))
		return "syslog";
	snprintf(buf, len, "%s/persh.log", paths.dir);
	return buf;
}

/* persh serve [-c FILE] [-f] [-T]: start the supervisor. */
int
cmd_serve(int argc, char **argv)
{
	int foreground = 0, dump = 0, quiet = 0, report = -1, mode, c;
	char err[512], logbuf[300];
	struct event *sigs[5];

	const char *path = NULL;

	optind = 1;
	while ((c = getopt(argc, argv, "+c:fTqh")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'T':
			dump = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			fprintf(stderr, "usage: persh serve [-c FILE] [-f] [-T]\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: persh serve [-c FILE] [-f] [-T]\n");
		return EXIT_USAGE;
	}
	config_path = cmd_config(path);
	if (dump) {
		config_dump(cfg, stdout);
		return EXIT_OK;
	}
	if (control_paths(&paths, err, sizeof err) == -1)
		fatal(EXIT_USAGE, "%s", err);
	/* The shells must not think they are nested in a session of ours. */
	unsetenv("PERSH_SESSION");
	signal(SIGPIPE, SIG_IGN);
	daemon_rlimit();
	/* Our path, now: SSH children exec it, even after an upgrade. */
	(void)self_exe();

	if (!foreground)
		report = daemon_detach(quiet);
	err[0] = '\0';
	/* The runtime dir first: "auto" may log into it. */
	if ((mode = control_mkdir(&paths, err, sizeof err)) >= 0) {
		const char *target = daemon_log_target(foreground, logbuf, sizeof logbuf);

		if (log_open(target, cfg->daemon_log_level, foreground) == -1)
			snprintf(err, sizeof err, "cannot open log %s: %s", target, strerror(errno));
		else if (mode > 0)
			log_warn("%s was mode %03o; set it to 0700", paths.dir, (unsigned)mode);
	}
	if (err[0] == '\0' && loop_init() == NULL)
		snprintf(err, sizeof err, "cannot create the event loop");
	if (err[0] == '\0') {
		/* Handlers before the socket: whoever can connect may also signal. */
		sigs[0] = loop_signal(SIGCHLD, daemon_sigchld, NULL);
		sigs[1] = loop_signal(SIGHUP, daemon_sighup, NULL);
		sigs[2] = loop_signal(SIGTERM, daemon_sigterm, NULL);
		sigs[3] = loop_signal(SIGINT, daemon_sigterm, NULL);
		sigs[4] = NULL;
		if (control_open(&paths, err, sizeof err) == 0 &&
		    sshd_open(config_path, err, sizeof err) == 0)
			relay_open(err, sizeof err);
	}
	if (err[0] != '\0') {
		if (report == -1)
			fatal(EXIT_ERROR, "%s", err);
		(void)!write(report, err, strlen(err));
		_exit(EXIT_ERROR);
	}
	if (report != -1) {
		if (chdir("/") == -1)
			log_warn("chdir /: %s", strerror(errno));
		(void)!write(report, "OK", 2);
		close(report);
		daemon_null_stdio();
	}
	log_info("persh %s daemon started (pid %d)", PERSH_VERSION, (int)getpid());
	daemon_rlimit_check();

	loop_run();

	for (int i = 0; sigs[i] != NULL; i++)
		loop_event_free(sigs[i]);
	loop_done();
	log_info("daemon stopped");
	log_close();
	return EXIT_OK;
}
