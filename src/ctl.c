/* One-shot commands: `persh ls`, `persh kill`, `persh detach`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
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
	fd = dial_daemon(cfgpath, 0, 1, missing, err, sizeof err);
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

/* Keep the counters of a STATS frame for the JSON output. */
void
ctl_ls_stats(struct ctl_ls *ls, const uint8_t *p, uint32_t len)
{
	uint16_t n;

	if (ls == NULL || len < 2)
		return;
	n = get16(p);
	if ((size_t)n * 10 + 2 != len)
		return;
	for (uint16_t i = 0; i < n; i++) {
		uint16_t e = get16(p + 2 + i * 10);

		if (e > 0 && e < PROTO_END_MAX)
			ls->stats[e] = get64(p + 4 + i * 10);
	}
	ls->have_stats = 1;
}

/* Read frames until OK or ERROR, passing SESSION rows to fn; exit code. */
static int
ctl_answer(int fd, void (*fn)(const struct proto_session *, void *), struct ctl_ls *arg)
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
		case PROTO_STATS:
			ctl_ls_stats(arg, buf, len);
			break;
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

/* Start the listing: the JSON array opens. */
void
ctl_ls_begin(struct ctl_ls *ls, FILE *fp, int json)
{
	memset(ls, 0, sizeof *ls);
	ls->fp = fp;
	ls->json = json;
	if (json)
		fprintf(fp, "{\"sessions\":[");
}

/* One row of `persh ls`, as a table line or a JSON object. */
void
ctl_ls_row(const struct proto_session *r, void *arg)
{
	struct ctl_ls *ls = arg;
	int64_t age = now_wall() - r->created;
	char a[24], idle[24], state[40];

	if (ls->json) {
		fprintf(ls->fp, "%s{\"name\":\"%s\",\"state\":\"%s\",\"clients\":%u,\"rows\":%u,"
		       "\"cols\":%u,\"pid\":%u,\"created\":%lld,\"age_s\":%lld,\"idle_s\":%lld,"
		       "\"timeout_left_s\":",
		    ls->n > 0 ? "," : "", r->name, proto_state_text(r->state), r->clients, r->rows,
		    r->cols, r->pid, (long long)r->created, (long long)age,
		    (long long)(r->idle_ms / 1000));
		if (r->left_ms >= 0)
			fprintf(ls->fp, "%.1f", (double)r->left_ms / 1000);
		else
			fprintf(ls->fp, "null");
		if (r->state == PROTO_S_EXITED)
			fprintf(ls->fp, ",\"exit_status\":%d}", r->exit_status);
		else
			fprintf(ls->fp, ",\"exit_status\":null}");
	} else {
		if (ls->n == 0)
			fprintf(ls->fp, "%-20s %-15s %7s %9s %8s %5s %5s\n", "NAME", "STATE",
			    "CLIENTS", "SIZE", "PID", "AGE", "IDLE");
		ctl_age(age, a, sizeof a);
		ctl_age(r->idle_ms / 1000, idle, sizeof idle);
		if (r->state == PROTO_S_EXITED) {
			snprintf(state, sizeof state, "exited(%d)", r->exit_status);
		} else if (r->left_ms >= 0) {
			char left[24];

			ctl_age((r->left_ms + 999) / 1000, left, sizeof left);
			snprintf(state, sizeof state, "%s(%s)", proto_state_text(r->state), left);
		} else {
			snprintf(state, sizeof state, "%s", proto_state_text(r->state));
		}
		fprintf(ls->fp, "%-20s %-15s %7u %4ux%-4u %8u %5s %5s\n", r->name, state,
		    r->clients, r->cols, r->rows, r->pid, a, idle);
	}
	ls->n++;
}

/* End the listing: the JSON tail with the counters, or "no sessions". */
void
ctl_ls_end(struct ctl_ls *ls, int ok)
{
	if (ls->json) {
		fprintf(ls->fp, "],\"stats\":{");
		for (uint16_t e = 1; e < PROTO_END_MAX; e++)
			fprintf(ls->fp, "%s\"%s\":%llu", e > 1 ? "," : "", proto_end_text(e),
			    (unsigned long long)ls->stats[e]);
		fprintf(ls->fp, "}}\n");
	} else if (ls->n == 0 && ok) {
		fprintf(ls->fp, "no sessions\n");
	}
}

/* persh ls [--json] */
int
cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 } };
	struct ctl_ls ls;
	const char *path = NULL, *cfgpath;
	uint8_t flags[4] = { 0 };
	int c, fd, missing, rc = EXIT_OK, json = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			json = 1;
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
	ctl_ls_begin(&ls, stdout, json);
	if (fd != -1) {
		/* On a failed write the answer still says why (ERROR or EOF). */
		(void)dial_write_frame(fd, PROTO_LIST, flags, sizeof flags);
		rc = ctl_answer(fd, ctl_ls_row, &ls);
		close(fd);
	}
	ctl_ls_end(&ls, rc == EXIT_OK);
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
