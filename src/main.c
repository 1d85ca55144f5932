/* persh: shells that outlive dead network links. Command dispatch. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "log.h"
#include "util.h"

struct config *cfg;

static int cmd_help(int argc, char **argv);

/* Every command: its synopsis and one line for the overview, and what
 * `persh help NAME` (or `persh NAME -h`) adds. No synopsis: internal. */
static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *synopsis;
	const char *what;
	const char *help;
} commands[] = {
	{ "attach", cmd_attach, "attach [-r] [-d] [NAME]",
	    "attach to NAME, creating it if missing",
	    "usage: persh attach [-c FILE] [-r] [-d] [NAME]\n"
	    "       persh attach [-c FILE] [-r] [--no-reconnect] [--max-reconnect-delay D]\n"
	    "                    [USER@]HOST[:PORT]/NAME\n"
	    "\n"
	    "Attach to session NAME on this host (default: [session] default, main),\n"
	    "creating it if missing, and starting the daemon if none runs. With\n"
	    "[USER@]HOST[:PORT]/NAME, attach over SSH to NAME on another host (which\n"
	    "runs `persh bridge NAME`, or is a persh SSH endpoint); the client\n"
	    "reconnects by itself when the link dies and resumes where it was.\n"
	    "\n"
	    "  -r, --read-only              watch: never type, never resize\n"
	    "  -d                           create the session, do not attach (this host)\n"
	    "  --no-reconnect               exit on the first link loss (status 3)\n"
	    "  --max-reconnect-delay D      longest reconnect delay, e.g. 5s\n"
	    "                               ([client] reconnect_max)\n"
	    "  -c FILE                      configuration file\n"
	    "\n"
	    "While attached, the detach key (Ctrl-\\, [client] detach_key) detaches.\n"
	    "Exits 0 when detached, with the shell's own status when the session\n"
	    "ends, 3 when the daemon or host is unreachable, 4 on an authentication\n"
	    "or host key failure.\n" },
	{ "ls", cmd_ls, "ls [--json]", "list sessions",
	    "usage: persh ls [-c FILE] [--json]\n"
	    "\n"
	    "List the sessions of this host's daemon: name, state (attached,\n"
	    "detached, orphaned or exited, with the time left before a hang-up),\n"
	    "clients, size, shell pid, age and idle time. Never starts a daemon:\n"
	    "with none running it prints \"no sessions\".\n"
	    "\n"
	    "  --json     one JSON object: \"sessions\" (one object per session) and\n"
	    "             \"stats\" (why clients and sessions ended, counted)\n"
	    "  -c FILE    configuration file\n" },
	{ "kill", cmd_kill, "kill NAME", "hang up a session",
	    "usage: persh kill [-c FILE] NAME\n"
	    "\n"
	    "Hang up session NAME as a terminal hang-up does: SIGHUP to the shell\n"
	    "and its foreground job, then SIGTERM and SIGKILL, each [session]\n"
	    "hangup_grace later, to whatever is still there. Its clients are told.\n" },
	{ "detach", cmd_detach, "detach NAME", "detach every client of a session",
	    "usage: persh detach [-c FILE] NAME\n"
	    "\n"
	    "Detach every client attached to session NAME; the shell keeps running\n"
	    "and the session counts as detached ([session] detached_timeout).\n" },
	{ "serve", cmd_serve, "serve [-f] [-T]", "run the daemon (-f foreground, -T dump config)",
	    "usage: persh serve [-c FILE] [-f] [-T]\n"
	    "\n"
	    "Run the daemon: the sessions, the control socket, and the SSH endpoint\n"
	    "and relay the configuration enables. It goes into the background once\n"
	    "it listens; clients start it themselves when none runs.\n"
	    "\n"
	    "  -f         stay in the foreground, logging to stderr (systemd, tests)\n"
	    "  -T         print the effective configuration and exit\n"
	    "  -c FILE    configuration file (re-read on SIGHUP)\n" },
	{ "proxy", cmd_proxy, "proxy HOST PORT", "a resumable stream to a relay (ssh ProxyCommand)",
	    "usage: persh proxy [-c FILE] HOST PORT\n"
	    "\n"
	    "A byte stream to the persh relay ([relay] listen) on HOST:PORT that\n"
	    "survives a dead link: for ssh's ProxyCommand, e.g.\n"
	    "\n"
	    "    ProxyCommand persh proxy %h 2223\n"
	    "\n"
	    "Exits 0 when the stream ended, 1 when the relay refused or ended it,\n"
	    "3 when the relay cannot be reached (at once, or after [relay]\n"
	    "resume_window of failed reconnects).\n" },
	{ "bridge", cmd_bridge, "bridge NAME", "the attach protocol on stdin/stdout (for ssh)",
	    "usage: persh bridge [-c FILE] NAME\n"
	    "\n"
	    "Speak the attach protocol for session NAME on stdin and stdout,\n"
	    "starting the daemon if none runs. This is what a remote\n"
	    "`persh attach HOST/NAME` runs through a stock sshd; not for people.\n" },
	{ "help", cmd_help, "help [COMMAND]", "this list, or what COMMAND does",
	    "usage: persh help [COMMAND]\n"
	    "\n"
	    "Without COMMAND, list the commands; with it, show its usage and\n"
	    "options (as `persh COMMAND -h` does).\n" },
	{ "ssh-conn", cmd_ssh_conn, NULL, NULL, NULL }, /* internal: started by the daemon */
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The command called name that people may use, or NULL. */
static const struct command *
command_find(const char *name, int internal)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0 &&
		    (internal || commands[i].synopsis != NULL))
			return &commands[i];
	return NULL;
}

/* Print usage to fp. */
static void
usage(FILE *fp)
{
	fprintf(fp, "usage: persh [-c FILE] COMMAND [ARGS]\n"
		    "       persh -V | --version\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].synopsis != NULL)
			fprintf(fp, "  persh %-24s %s\n", commands[i].synopsis, commands[i].what);
	fprintf(fp, "\nEvery command takes -c FILE (default $PERSH_CONFIG, else "
		    "~/.config/persh/persh.ini if it exists).\n"
		    "`persh help COMMAND` tells more; see also persh(1), persh.ini(5).\n");
}

/* persh help [COMMAND]: the overview, or one command's usage and options. */
static int
cmd_help(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc > 2) {
		fprintf(stderr, "usage: persh help [COMMAND]\n");
		return EXIT_USAGE;
	}
	if ((c = command_find(argv[1], 0)) == NULL) {
		fprintf(stderr, "persh: no command '%.80s' (persh help lists them)\n", argv[1]);
		return EXIT_USAGE;
	}
	fputs(c->help, stdout);
	return EXIT_OK;
}

/* 1 if the options of a command (before its first operand or "--") ask
 * for help; a -c takes the next word as its value. */
static int
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--max-reconnect-delay") == 0)
			i++;
	}
	return 0;
}

static const char *global_path;

/* Load the configuration in force into cfg; exits 2 on an error. */
const char *
cmd_config(const char *path)
{
	static char def[4096];
	const char *env = getenv("PERSH_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char err[600];
	struct stat st;

	if (path == NULL)
		path = global_path;
	if (path == NULL && env != NULL && env[0] != '\0')
		path = env;
	if (path == NULL) {
		if (xdg != NULL && xdg[0] == '/')
			snprintf(def, sizeof def, "%s/persh/persh.ini", xdg);
		else if (home != NULL)
			snprintf(def, sizeof def, "%s/.config/persh/persh.ini", home);
		if (def[0] != '\0' && stat(def, &st) == 0)
			path = def;
	}
	cfg = config_new();
	if (path != NULL && config_load(cfg, path, err, sizeof err) == -1)
		fatal(EXIT_USAGE, "%s", err);
	if (path == NULL && config_validate(cfg, err, sizeof err) == -1)
		fatal(EXIT_USAGE, "%s", err);
	return path;
}

/* 0 if name is valid; otherwise prints why and returns the exit code. */
int
cmd_check_name(const char *name)
{
	if (name_valid(name, strlen(name)))
		return 0;
	fprintf(stderr, "persh: invalid session name '%.80s' (use 1-64 of A-Z a-z 0-9 . _ -)\n",
	    name);
	return EXIT_USAGE;
}

/* Global options, then the command. */
int
main(int argc, char **argv)
{
	const struct command *c;
	int i = 1;
	int rc;

	/* A peer that closed must show up as an error we read, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			global_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("persh %s (protocol 1)\n", PERSH_VERSION);
			return EXIT_OK;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else {
			fprintf(stderr, "persh: unknown option %s\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((c = command_find(argv[i], 1)) == NULL) {
		fprintf(stderr, "persh: unknown command '%.80s'\n", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (c->help != NULL && wants_help(argc - i, argv + i)) {
		fputs(c->help, stdout);
		return EXIT_OK;
	}
	rc = c->fn(argc - i, argv + i);
	if (cfg != NULL)
		config_free(cfg);
	return rc;
}
