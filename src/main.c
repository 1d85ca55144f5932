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

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
} commands[] = {
	{ "attach", cmd_attach, "attach [-r] [-d] [NAME]   attach to NAME, creating it if missing" },
	{ "ls", cmd_ls, "ls [--json]               list sessions" },
	{ "kill", cmd_kill, "kill NAME                 hang up a session" },
	{ "detach", cmd_detach, "detach NAME               detach every client of a session" },
	{ "bridge", cmd_bridge, "bridge NAME               the attach protocol on stdin/stdout (for ssh)" },
	{ "serve", cmd_serve, "serve [-f] [-T]           run the daemon (-f foreground, -T dump config)" },
	{ "proxy", cmd_proxy, "proxy HOST PORT           a resumable stream to a relay (ssh ProxyCommand)" },
	{ "ssh-conn", cmd_ssh_conn, NULL }, /* internal: started by the daemon */
};

/* Print usage to fp. */
static void
usage(FILE *fp)
{
	fprintf(fp, "usage: persh [-c FILE] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (commands[i].usage != NULL)
			fprintf(fp, "  persh %s\n", commands[i].usage);
	fprintf(fp, "\nEvery command takes -c FILE (default $PERSH_CONFIG, else "
		    "~/.config/persh/persh.ini if it exists).\n");
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
	for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
		if (strcmp(argv[i], commands[k].name) == 0) {
			rc = commands[k].fn(argc - i, argv + i);
			if (cfg != NULL)
				config_free(cfg);
			return rc;
		}
	}
	if (strcmp(argv[i], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "persh: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
