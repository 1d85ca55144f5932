/* One-shot commands: `persh ls`, `persh kill`, `persh detach`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "dial.h"
#include "proto.h"
#include "util.h"

/* Connect (never starting a daemon) and read its HELLO; -1 on failure with
 * *rc set, or the socket. A missing daemon is reported by the caller. */
static int
ctl_open(const char *cfgpath, int *missing, int *rc)
{
	uint8_t buf[PROTO_MAX_PAYLOAD];
	struct proto_text t;
	char err[512];
	uint16_t type;
	uint32_t len;
	int fd;

	*missing = 0;
	fd = dial_daemon(cfgpath, 0, missing, err, sizeof err);
	if (fd == -1) {
		if (*missing && strncmp(err, "no daemon", 9) == 0)
			return -1;
		*missing = 0;
		fprintf(stderr, "persh: %s\n", err);
		*rc = EXIT_UNREACHABLE;
		return -1;
	}
	if (dial_read_frame(fd, now_ms() + cfg->heartbeat_timeout, &type, buf, &len, err,
		sizeof err) == -1) {
		fprintf(stderr, "persh: %s\n", err);
		*rc = EXIT_UNREACHABLE;
		close(fd);
		return -1;
	}
	if (type == PROTO_ERROR) {
		if (proto_text_decode(buf, len, &t) == -1)
			snprintf(t.text, sizeof t.text, "refused by the daemon");
		fprintf(stderr, "persh: %s\n", t.text);
		*rc = EXIT_ERROR;
		close(fd);
		return -1;
	}
	if (type != PROTO_HELLO) {
		fprintf(stderr, "persh: unexpected answer from the daemon\n");
		*rc = EXIT_ERROR;
		close(fd);
		return -1;
	}
	return fd;
}

/* Read frames until OK or ERROR, passing SESSION rows to fn; exit code. */
static int
ctl_answer(int fd, void (*fn)(const struct proto_session *, void *), void *arg)
{
	uint8_t buf[PROTO_MAX_PAYLOAD];
	int64_t deadline = now_ms() + cfg->heartbeat_timeout;
	struct proto_session row;
	struct proto_text t;
	char err[512];
	uint16_t type;
	uint32_t len;

	for (;;) {
		if (dial_read_frame(fd, deadline, &type, buf, &len, err, sizeof err) == -1) {
			fprintf(stderr, "persh: %s\n", err);
			return EXIT_UNREACHABLE;
		}
		switch (type) {
		case PROTO_OK:
			return EXIT_OK;
		case PROTO_SESSION:
			if (proto_session_decode(buf, len, &row) == 0 && fn != NULL)
				fn(&row, arg);
			break;
		case PROTO_ERROR:
			if (proto_text_decode(buf, len, &t) == -1)
				snprintf(t.text, sizeof t.text, "error from the daemon");
			fprintf(stderr, "persh: %s\n", t.text[0] ? t.text : proto_error_text(t.code));
			return EXIT_ERROR;
		case PROTO_HEARTBEAT:
			break;
		default:
			fprintf(stderr, "persh: unexpected frame %u from the daemon\n", type);
			return EXIT_ERROR;
		}
	}
}

/* "5s", "3m", "2h", "4d": a short age for the table. */
static void
ctl_age(int64_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, len, "%llds", (long long)secs);
	else if (secs < 3600)
		snprintf(buf, len, "%lldm", (long long)(secs / 60));
	else if (secs < 86400)
		snprintf(buf, len, "%lldh", (long long)(secs / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(secs / 86400));
}

struct ctl_ls {
	int json;
	int n;
};

/* One row of `persh ls`, as a table line or a JSON object. */
static void
ctl_ls_row(const struct proto_session *r, void *arg)
{
	struct ctl_ls *ls = arg;
	int64_t age = now_wall() - r->created;
	char a[24], idle[24], state[24];

	if (ls->json) {
		printf("%s{\"name\":\"%s\",\"state\":\"%s\",\"clients\":%u,\"rows\":%u,"
		       "\"cols\":%u,\"pid\":%u,\"created\":%lld,\"age_s\":%lld,\"idle_s\":%lld,"
		       "\"exit_status\":",
		    ls->n > 0 ? "," : "", r->name, proto_state_text(r->state), r->clients, r->rows,
		    r->cols, r->pid, (long long)r->created, (long long)age,
		    (long long)(r->idle_ms / 1000));
		if (r->state == PROTO_S_EXITED)
			printf("%d}", r->exit_status);
		else
			printf("null}");
	} else {
		if (ls->n == 0)
			printf("%-20s %-12s %7s %9s %8s %5s %5s\n", "NAME", "STATE", "CLIENTS", "SIZE",
			    "PID", "AGE", "IDLE");
		ctl_age(age, a, sizeof a);
		ctl_age(r->idle_ms / 1000, idle, sizeof idle);
		if (r->state == PROTO_S_EXITED)
			snprintf(state, sizeof state, "exited(%d)", r->exit_status);
		else
			snprintf(state, sizeof state, "%s", proto_state_text(r->state));
		printf("%-20s %-12s %7u %4ux%-4u %8u %5s %5s\n", r->name, state, r->clients, r->cols,
		    r->rows, r->pid, a, idle);
	}
	ls->n++;
}

/* persh ls [--json] */
int
cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 } };
	struct ctl_ls ls = { 0, 0 };
	const char *path = NULL, *cfgpath;
	uint8_t flags[4] = { 0 };
	int c, fd, missing, rc = EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			ls.json = 1;
			break;
		default:
			fprintf(stderr, "usage: persh ls [--json]\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: persh ls [--json]\n");
		return EXIT_USAGE;
	}
	cfgpath = cmd_config(path);
	fd = ctl_open(cfgpath, &missing, &rc);
	if (ls.json)
		printf("{\"sessions\":[");
	if (fd != -1) {
		/* On a failed write the answer still says why (ERROR or EOF). */
		(void)dial_write_frame(fd, PROTO_LIST, flags, sizeof flags);
		rc = ctl_answer(fd, ctl_ls_row, &ls);
		close(fd);
	}
	if (ls.json)
		printf("]}\n");
	else if (ls.n == 0 && rc == EXIT_OK)
		printf("no sessions\n");
	return rc;
}

/* kill NAME / detach NAME: one named request. */
static int
ctl_named(int argc, char **argv, uint16_t type, const char *usage)
{
	const char *path = NULL, *cfgpath;
	uint8_t buf[PROTO_MAX_TEXT + 1];
	int c, fd, missing, rc = EXIT_ERROR;

	optind = 1;
	while ((c = getopt(argc, argv, "+c:h")) != -1) {
		if (c == 'c') {
			path = optarg;
			continue;
		}
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	cfgpath = cmd_config(path);
	if ((rc = cmd_check_name(argv[optind])) != 0)
		return rc;
	fd = ctl_open(cfgpath, &missing, &rc);
	if (fd == -1) {
		if (missing) {
			fprintf(stderr, "persh: no session named '%s' (no daemon running)\n",
			    argv[optind]);
			return EXIT_ERROR;
		}
		return rc;
	}
	(void)dial_write_frame(fd, type, buf, proto_name_encode(buf, argv[optind]));
	rc = ctl_answer(fd, NULL, NULL);
	close(fd);
	return rc;
}

/* persh kill NAME */
int
cmd_kill(int argc, char **argv)
{
	return ctl_named(argc, argv, PROTO_KILL, "persh kill NAME");
}

/* persh detach NAME */
int
cmd_detach(int argc, char **argv)
{
	return ctl_named(argc, argv, PROTO_DETACH_ALL, "persh detach NAME");
}
