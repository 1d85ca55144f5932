/* Starting a session's shell: a login shell under a new PTY, with the
 * environment and fd state a login gives it, and an exec failure reported
 * back rather than lost in the child. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

/* The soft fd limit for shells; 0: the daemon's own. */
static uint64_t child_nofile;

/* The soft RLIMIT_NOFILE the daemon was started with, for its shells. */
void
spawn_set_nofile(uint64_t soft)
{
	child_nofile = soft;
}

/* The shell to run: the configured one, the passwd entry's, $SHELL, sh. */
static const char *
spawn_shell_path(void)
{
	struct passwd *pw;
	const char *sh;

	if (cfg->session_shell[0] != '\0')
		return cfg->session_shell;
	pw = getpwuid(getuid());
	if (pw != NULL && pw->pw_shell != NULL && pw->pw_shell[0] == '/')
		return pw->pw_shell;
	sh = getenv("SHELL");
	if (sh != NULL && sh[0] == '/')
		return sh;
	return "/bin/sh";
}

/* TERM for a new shell: forced by the config, else the client's. */
static const char *
spawn_term(const char *client_term)
{
	if (cfg->session_term[0] != '\0')
		return cfg->session_term;
	if (client_term != NULL && client_term[0] != '\0' && strchr(client_term, '/') == NULL)
		return client_term;
	return "xterm-256color";
}

/* In the child: become the shell, or report errno through fd 3. */
static void __attribute__((noreturn))
spawn_exec(const char *shell, const char *term, const char *name)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *home = getenv("HOME");
	const char *base = strrchr(shell, '/');
	char argv0[256];
	sigset_t none;
	int e;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Only fd 3, the exec-error pipe (close-on-exec), survives. */
	if (syscall(SYS_close_range, 4U, ~0U, 0U) == -1)
		for (int fd = 4; fd < 65536; fd++)
			close(fd);
	/* The fd limit the user gave the daemon, not the one it raised. */
	if (child_nofile != 0) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && child_nofile < (uint64_t)rl.rlim_cur) {
			rl.rlim_cur = (rlim_t)child_nofile;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	/* $HOME as the daemon has it, else the passwd entry's. */
	if ((home == NULL || home[0] != '/') && pw != NULL && pw->pw_dir != NULL)
		home = pw->pw_dir;
	if (home == NULL || chdir(home) == -1)
		(void)chdir("/");
	setenv("TERM", term, 1);
	setenv("PERSH_SESSION", name, 1);
	if (home != NULL)
		setenv("HOME", home, 1);

	/* A leading '-' makes it a login shell, as login(1) and tmux do. */
	snprintf(argv0, sizeof argv0, "-%s", base != NULL ? base + 1 : shell);
	execl(shell, argv0, (char *)NULL);
	e = errno;
	(void)write(3, &e, sizeof e);
	_exit(127);
}

/* Fork the shell under a new PTY; 0, or -1 with a reason in err. */
int
spawn_shell(const char *name, uint16_t rows, uint16_t cols, const char *client_term,
    struct spawn *out, char *err, size_t errlen)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	const char *shell = spawn_shell_path();
	const char *term = spawn_term(client_term);
	sigset_t all, old;
	int pipefd[2], master = -1, e = 0;
	ssize_t n;
	pid_t pid;

	if (ws.ws_row == 0 || ws.ws_col == 0) {
		ws.ws_row = 24;
		ws.ws_col = 80;
	}
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	/* No handler may run in the child between fork and exec. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = forkpty(&master, NULL, NULL, &ws);
	if (pid == 0) {
		if (dup2(pipefd[1], 3) == -1)
			_exit(127);
		fcntl(3, F_SETFD, FD_CLOEXEC);
		spawn_exec(shell, term, name);
	}
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pipefd[1]);
	if (pid == -1) {
		snprintf(err, errlen, "forkpty: %s", strerror(e));
		close(pipefd[0]);
		return -1;
	}
	/* Blocks only until our own child execs: the pipe closes on exec. */
	do
		n = read(pipefd[0], &e, sizeof e);
	while (n == -1 && errno == EINTR);
	close(pipefd[0]);
	if (n == sizeof e) {
		snprintf(err, errlen, "cannot run %s: %s", shell, strerror(e));
		close(master);
		waitpid(pid, NULL, 0);
		return -1;
	}
	fd_set_nonblock(master, 1);
	fd_set_cloexec(master);
	out->pid = pid;
	out->master = master;
	out->rows = ws.ws_row;
	out->cols = ws.ws_col;
	out->shell = shell;
	out->term = term;
	return 0;
}
