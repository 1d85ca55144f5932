/* Unit tests for the configuration: parsers, errors, checks, dump. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "log.h"

/* The longest line config_load takes: inih's buffer less the newline and
 * the NUL. */
#if INI_USE_STACK
#define LONGEST_LINE (INI_MAX_LINE - 2)
#else
#define LONGEST_LINE (INI_INITIAL_ALLOC - 2)
#endif

static char tmpdir[64];

/* Each test gets its own scratch directory. */
static void
setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/persh-test-config-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

/* Remove the scratch directory and whatever a test left in it. */
static void
teardown(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
		if (unlink(path) != 0)
			rmdir(path);
	}
	closedir(d);
	rmdir(tmpdir);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Path of a file in the scratch directory. */
static void
tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* Write len bytes of data to a scratch file; its path goes in buf. */
static void
write_file(char *buf, size_t buflen, const char *name, const char *data, size_t len)
{
	FILE *fp;

	tmp_path(buf, buflen, name);
	fp = fopen(buf, "w");
	cr_assert_not_null(fp, "fopen %s: %s", buf, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, fp), len);
	cr_assert_eq(fclose(fp), 0);
}

/* Load text as a file over cfg; the file's path goes in path. */
static int
load_text(struct config *cfg, const char *text, char *path, size_t pathlen, char *err,
    size_t errlen)
{
	write_file(path, pathlen, "test.ini", text, strlen(text));
	return config_load(cfg, path, err, errlen);
}

/* Loading text must fail with exactly "PATH" followed by suffix. */
static void
expect_error(const char *text, const char *suffix)
{
	char path[PATH_MAX], err[1024], want[PATH_MAX + 512];
	struct config *cfg = config_new();

	strcpy(err, "untouched");
	cr_assert_eq(load_text(cfg, text, path, sizeof path, err, sizeof err), -1,
	    "loaded without error:\n%s", text);
	snprintf(want, sizeof want, "%s%s", path, suffix);
	cr_assert_str_eq(err, want, "for:\n%s", text);
	cr_assert_null(strchr(err, '\n'), "error spans lines: %s", err);
	config_free(cfg);
}

/* Loading text over the defaults must succeed; the caller frees. */
static struct config *
expect_ok(const char *text)
{
	char path[PATH_MAX], err[1024] = "";
	struct config *cfg = config_new();

	cr_assert_eq(load_text(cfg, text, path, sizeof path, err, sizeof err), 0,
	    "error: %s\nfor:\n%s", err, text);
	return cfg;
}

/* Equality of one field, by type. */
#define eq_str(a, b) (strcmp((a), (b)) == 0)
#define eq_path eq_str
#define eq_name eq_str
#define eq_loglevel(a, b) ((a) == (b))
#define eq_restore(a, b) ((a) == (b))
#define eq_addr(a, b) eq_str(a, b)
#define eq_bool(a, b) ((a) == (b))
#define eq_size(a, b) ((a) == (b))
#define eq_duration(a, b) ((a) == (b))
#define eq_uint(a, b) ((a) == (b))
#define eq_key(a, b) ((a) == (b))

/* Name of the first key where a and b differ, NULL if none. */
static const char *
config_diff(const struct config *a, const struct config *b)
{
#define DIFF(sec, key, type, def, doc)                \
	if (!eq_##type(a->sec##_##key, b->sec##_##key)) \
		return "[" #sec "] " #key;
	CONFIG_TABLE(DIFF)
#undef DIFF
	return NULL;
}

/* Name of the first key where a and b are equal, NULL if none. */
static const char *
config_same(const struct config *a, const struct config *b)
{
#define SAME(sec, key, type, def, doc)               \
	if (eq_##type(a->sec##_##key, b->sec##_##key)) \
		return "[" #sec "] " #key;
	CONFIG_TABLE(SAME)
#undef SAME
	return NULL;
}

/* config_dump into a string; the caller frees. */
static char *
dump_string(const struct config *cfg)
{
	char *s = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&s, &len);

	cr_assert_not_null(fp);
	config_dump(cfg, fp);
	cr_assert_eq(fclose(fp), 0);
	return s;
}

/* Dump cfg, load the dump into a fresh config and require equality, both
 * of the values and of a second dump. */
static void
expect_round_trip(const struct config *cfg)
{
	char path[PATH_MAX], err[1024] = "";
	char *text, *again;
	struct config *back = config_new();
	const char *diff;

	text = dump_string(cfg);
	write_file(path, sizeof path, "dump.ini", text, strlen(text));
	cr_assert_eq(config_load(back, path, err, sizeof err), 0, "dump does not load: %s\n%s",
	    err, text);
	diff = config_diff(cfg, back);
	cr_assert_null(diff, "%s differs after the round trip:\n%s", diff, text);
	again = dump_string(back);
	cr_assert_str_eq(again, text);
	free(again);
	free(text);
	config_free(back);
}

/* A file that sets every key to something other than its default. */
static const char every_key[] = "[daemon]\n"
				"runtime_dir = /run/user/1000/p\n"
				"log = /var/log/persh.log\n"
				"log_level = debug\n"
				"[session]\n"
				"default = work.1\n"
				"shell = /bin/bash\n"
				"term = screen-256color\n"
				"scrollback = 64K\n"
				"restore = replay\n"
				"client_buffer = 8K\n"
				"stall_timeout = 250ms\n"
				"max_sessions = 7\n"
				"orphan_timeout = 90s\n"
				"detached_timeout = 2h\n"
				"hangup_grace = 10s\n"
				"[heartbeat]\n"
				"interval = 1m\n"
				"timeout = 24h\n"
				"[ssh]\n"
				"listen = [::1]:2222\n"
				"host_key = /etc/persh/host_key\n"
				"authorized_keys = /etc/persh/keys\n"
				"keepalive_interval = 1s\n"
				"keepalive_count = 5\n"
				"login_grace = 10s\n"
				"max_unauth = 3\n"
				"max_unauth_per_source = 2\n"
				"[client]\n"
				"detach_key = C-a\n"
				"reconnect = no\n"
				"reconnect_base = 1s\n"
				"reconnect_max = 1m\n"
				"ssh_config = /etc/persh/ssh_config\n"
				"[relay]\n"
				"listen = 127.0.0.1:2223\n"
				"target = ssh\n"
				"buffer = 64K\n"
				"resume_window = 30s\n"
				"max_streams = 3\n";

/*
 * Defaults.
 */

Test(config, defaults)
{
	struct config *cfg = config_new();
	char err[256] = "untouched";

	cr_assert_str_eq(cfg->daemon_runtime_dir, "");
	cr_assert_str_eq(cfg->daemon_log, "auto");
	cr_assert_eq(cfg->daemon_log_level, LOG_LVL_INFO);
	cr_assert_str_eq(cfg->session_default, "main");
	cr_assert_str_eq(cfg->session_shell, "");
	cr_assert_str_eq(cfg->session_term, "");
	cr_assert_eq(cfg->session_scrollback, 1024 * 1024);
	cr_assert_eq(cfg->session_client_buffer, 1024 * 1024);
	cr_assert_eq(cfg->session_stall_timeout, 2000);
	cr_assert_eq(cfg->session_max_sessions, 1024);
	cr_assert_eq(cfg->session_hangup_grace, 2000);
	cr_assert_eq(cfg->heartbeat_interval, 3000);
	cr_assert_eq(cfg->heartbeat_timeout, 12000);
	cr_assert_eq(cfg->client_detach_key, 0x1c);
	cr_assert_str_eq(cfg->relay_listen, "");
	cr_assert_str_eq(cfg->relay_target, "127.0.0.1:22");
	cr_assert_eq(cfg->relay_buffer, 8 * 1024 * 1024);
	cr_assert_eq(cfg->relay_resume_window, 10 * 60 * 1000);
	cr_assert_eq(cfg->relay_max_streams, 64);
	cr_assert_eq(config_validate(cfg, err, sizeof err), 0, "%s", err);
	config_free(cfg);
}

Test(config, free_null)
{
	config_free(NULL);
}

/*
 * Files that load.
 */

Test(config, empty_file)
{
	struct config *cfg = expect_ok("");
	struct config *def = config_new();

	cr_assert_null(config_diff(cfg, def));
	config_free(def);
	config_free(cfg);
}

Test(config, only_sections)
{
	struct config *cfg = expect_ok("[daemon]\n[session]\n[heartbeat]\n[client]\n");
	struct config *def = config_new();

	cr_assert_null(config_diff(cfg, def));
	config_free(def);
	config_free(cfg);
}

Test(config, comments_and_blank_lines)
{
	struct config *cfg = expect_ok("# comment\n"
				       "; comment\n"
				       "\n"
				       "[session]   ; after a header\n"
				       "  # indented comment\n"
				       "\t; indented comment\n"
				       "scrollback = 64K ; inline comment\n"
				       "#scrollback = 2M\n"
				       ";scrollback = 2M\n"
				       "client_buffer=4K\n"
				       "   \n");

	cr_assert_eq(cfg->session_scrollback, 64 * 1024);
	cr_assert_eq(cfg->session_client_buffer, 4 * 1024);
	config_free(cfg);
}

Test(config, hash_after_value_is_not_a_comment)
{
	expect_error("[session]\nscrollback = 64K # no\n",
	    ":2: [session] scrollback: bad size '64K # no' (use bytes, or a number with K or M)");
}

Test(config, indentation_is_not_continuation)
{
	/* inih alone would read the indented line as more of term's value. */
	struct config *cfg = expect_ok("[session]\n"
				       "term = vt100\n"
				       "    scrollback = 2M\n"
				       "\t[heartbeat]\n"
				       "\tinterval = 1s\n");

	cr_assert_str_eq(cfg->session_term, "vt100");
	cr_assert_eq(cfg->session_scrollback, 2 * 1024 * 1024);
	cr_assert_eq(cfg->heartbeat_interval, 1000);
	config_free(cfg);
}

Test(config, crlf_bom_and_no_final_newline)
{
	struct config *cfg = expect_ok("\xef\xbb\xbf[session]\r\n"
				       "term = vt100\r\n"
				       "max_sessions = 3");

	cr_assert_str_eq(cfg->session_term, "vt100");
	cr_assert_eq(cfg->session_max_sessions, 3);
	config_free(cfg);
}

Test(config, colon_separator)
{
	struct config *cfg = expect_ok("[session]\nmax_sessions: 5\n");

	cr_assert_eq(cfg->session_max_sessions, 5);
	config_free(cfg);
}

Test(config, duplicate_key_later_wins)
{
	struct config *cfg = expect_ok("[session]\n"
				       "max_sessions = 5\n"
				       "max_sessions = 6\n"
				       "[daemon]\n"
				       "log = stderr\n"
				       "[session]\n"
				       "max_sessions = 7\n");

	cr_assert_eq(cfg->session_max_sessions, 7);
	cr_assert_str_eq(cfg->daemon_log, "stderr");
	config_free(cfg);
}

Test(config, load_over_existing)
{
	char path[PATH_MAX], err[256] = "";
	struct config *cfg = config_new();

	cfg->session_max_sessions = 9;
	cr_assert_eq(load_text(cfg, "[session]\nterm = vt100\n", path, sizeof path, err,
			 sizeof err),
	    0, "%s", err);
	cr_assert_eq(cfg->session_max_sessions, 9);
	cr_assert_str_eq(cfg->session_term, "vt100");
	config_free(cfg);
}

Test(config, empty_values)
{
	struct config *cfg = expect_ok("[daemon]\nruntime_dir =\nlog =\n[session]\nshell = \n");

	cr_assert_str_eq(cfg->daemon_runtime_dir, "");
	cr_assert_str_eq(cfg->daemon_log, "");
	cr_assert_str_eq(cfg->session_shell, "");
	config_free(cfg);
}

Test(config, every_key_changes)
{
	struct config *cfg = expect_ok(every_key);
	struct config *def = config_new();
	const char *same = config_same(cfg, def);

	/* Guards the round trip below: it must exercise every key. */
	cr_assert_null(same, "every_key leaves %s at its default", same);
	cr_assert_str_eq(cfg->daemon_runtime_dir, "/run/user/1000/p");
	cr_assert_str_eq(cfg->daemon_log, "/var/log/persh.log");
	cr_assert_eq(cfg->daemon_log_level, LOG_LVL_DEBUG);
	cr_assert_str_eq(cfg->session_default, "work.1");
	cr_assert_str_eq(cfg->session_shell, "/bin/bash");
	cr_assert_str_eq(cfg->session_term, "screen-256color");
	cr_assert_eq(cfg->session_scrollback, 64 * 1024);
	cr_assert_eq(cfg->session_client_buffer, 8 * 1024);
	cr_assert_eq(cfg->session_stall_timeout, 250);
	cr_assert_eq(cfg->session_max_sessions, 7);
	cr_assert_eq(cfg->session_hangup_grace, 10000);
	cr_assert_eq(cfg->heartbeat_interval, 60000);
	cr_assert_eq(cfg->heartbeat_timeout, 24 * 3600 * 1000);
	cr_assert_eq(cfg->client_detach_key, 1);
	config_free(def);
	config_free(cfg);
}

/*
 * Errors while reading.
 */

Test(config, missing_file)
{
	char path[PATH_MAX], err[1024], want[PATH_MAX + 64];
	struct config *cfg = config_new();

	tmp_path(path, sizeof path, "absent.ini");
	cr_assert_eq(config_load(cfg, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: cannot read: %s", path, strerror(ENOENT));
	cr_assert_str_eq(err, want);
	config_free(cfg);
}

Test(config, directory)
{
	char err[1024], want[PATH_MAX + 64];
	struct config *cfg = config_new();

	cr_assert_eq(config_load(cfg, tmpdir, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: cannot read: %s", tmpdir, strerror(EISDIR));
	cr_assert_str_eq(err, want);
	config_free(cfg);
}

Test(config, unknown_section)
{
	expect_error("[session]\nterm = vt100\n[foo]\nbar = 1\n", ":3: unknown section [foo]");
}

Test(config, unknown_section_without_keys)
{
	expect_error("[daemon]\n[foo]\n", ":2: unknown section [foo]");
	expect_error("[foo]\n[daemon]\nlog = stderr\n", ":1: unknown section [foo]");
	expect_error("# only\n\n[foo]", ":3: unknown section [foo]");
	expect_error("[]\n", ":1: unknown section []");
	/* Section names are exact. */
	expect_error("[Daemon]\n", ":1: unknown section [Daemon]");
	expect_error("[ daemon ]\n", ":1: unknown section [ daemon ]");
}

Test(config, unknown_key)
{
	expect_error("[daemon]\nlog = stderr\nbar = 1\n", ":3: unknown key 'bar' in [daemon]");
	/* A key of another section is unknown here. */
	expect_error("[daemon]\nscrollback = 1M\n", ":2: unknown key 'scrollback' in [daemon]");
	expect_error("[daemon]\n= 1\n", ":2: unknown key '' in [daemon]");
}

Test(config, key_outside_section)
{
	expect_error("# first\nx = 1\n[daemon]\n", ":2: key 'x' outside any section");
}

Test(config, syntax_error)
{
	expect_error("[daemon]\nlog\n", ":2: syntax error");
	expect_error("[daemon\nlog = stderr\n", ":1: syntax error");
	/* The first error wins, whichever kind it is. */
	expect_error("[daemon]\nlog\nbar = 1\n", ":2: syntax error");
	expect_error("[daemon]\nbar = 1\nlog\n", ":2: unknown key 'bar' in [daemon]");
	expect_error("[daemon]\nlog\n[foo]\n", ":2: syntax error");
}

Test(config, first_error_only)
{
	expect_error("[session]\nscrollback = x\nmax_sessions = y\n[foo]\n",
	    ":2: [session] scrollback: bad size 'x' (use bytes, or a number with K or M)");
}

Test(config, line_too_long)
{
	char text[LONGEST_LINE + 64], want[64];
	char value[LONGEST_LINE + 1];
	size_t n = LONGEST_LINE + 1 - strlen("log = /");

	/* One character too many. */
	memset(value, 'a', n);
	value[n] = '\0';
	snprintf(text, sizeof text, "[daemon]\nlog = stderr\nlog = /%s\n", value);
	snprintf(want, sizeof want, ":3: line too long (at most %d characters)", LONGEST_LINE);
	expect_error(text, want);
}

Test(config, longest_line)
{
	char text[LONGEST_LINE + 64];
	char value[LONGEST_LINE + 1];
	size_t n = LONGEST_LINE - strlen("log = /");
	struct config *cfg;

	memset(value, 'a', n);
	value[n] = '\0';
	/* Indentation does not count. */
	snprintf(text, sizeof text, "[daemon]\n    log = /%s\nlog_level = debug\n", value);
	cfg = expect_ok(text);
	cr_assert_eq(strlen(cfg->daemon_log), n + 1);
	cr_assert_eq(cfg->daemon_log_level, LOG_LVL_DEBUG);
	config_free(cfg);
}

Test(config, nul_byte)
{
	static const char text[] = "[daemon]\nlog = a\0b\n";
	char path[PATH_MAX], err[1024], want[PATH_MAX + 64];
	struct config *cfg = config_new();

	write_file(path, sizeof path, "nul.ini", text, sizeof text - 1);
	cr_assert_eq(config_load(cfg, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: NUL byte in line", path);
	cr_assert_str_eq(err, want);
	config_free(cfg);
}

Test(config, small_error_buffer)
{
	char path[PATH_MAX], err[8];
	struct config *cfg = config_new();

	memset(err, 'x', sizeof err);
	cr_assert_eq(load_text(cfg, "[foo]\n", path, sizeof path, err, sizeof err), -1);
	cr_assert_eq(strlen(err), sizeof err - 1);
	cr_assert_eq(strncmp(err, path, sizeof err - 1), 0);
	cr_assert_eq(load_text(cfg, "[foo]\n", path, sizeof path, NULL, 0), -1);
	config_free(cfg);
}

/*
 * Bad values, one type at a time.
 */

Test(config, bad_values)
{
	expect_error("[daemon]\nruntime_dir = run/persh\n",
	    ":2: [daemon] runtime_dir: bad path 'run/persh' (use an absolute path, or nothing "
	    "for the default)");
	expect_error("[ssh]\nlisten = 2222\n",
	    ":2: [ssh] listen: bad address '2222' (use HOST:PORT, [IPv6]:PORT, or nothing)");
	expect_error("[ssh]\nlisten = ::1:22\n",
	    ":2: [ssh] listen: bad address '::1:22' (use HOST:PORT, [IPv6]:PORT, or nothing)");
	expect_error("[ssh]\nlisten = host:0\n",
	    ":2: [ssh] listen: bad address 'host:0' (use HOST:PORT, [IPv6]:PORT, or nothing)");
	expect_error("[ssh]\nlisten = host:65536\n",
	    ":2: [ssh] listen: bad address 'host:65536' (use HOST:PORT, [IPv6]:PORT, or nothing)");
	expect_error("[ssh]\nkeepalive_count = 0\n", ":2: [ssh] keepalive_count (0) must be at least 1");
	expect_error("[client]\nreconnect = maybe\n",
	    ":2: [client] reconnect: bad value 'maybe' (use yes or no)");
	expect_error("[client]\nreconnect_max = 100ms\n",
	    ":2: [client] reconnect_max (100ms) must be at least [client] reconnect_base (250ms)");
	expect_error("[session]\nrestore = vt100\n",
	    ":2: [session] restore: bad restore mode 'vt100' (use screen, replay or none)");
	expect_error("[daemon]\nlog_level = verbose\n",
	    ":2: [daemon] log_level: bad log level 'verbose' (use error, warn, info or debug)");
	expect_error("[session]\ndefault = a b\n",
	    ":2: [session] default: bad name 'a b' (use 1 to 64 of A-Z a-z 0-9 . _ -)");
	expect_error("[session]\ndefault =\n",
	    ":2: [session] default: bad name '' (use 1 to 64 of A-Z a-z 0-9 . _ -)");
	expect_error("[session]\nscrollback = abc\n",
	    ":2: [session] scrollback: bad size 'abc' (use bytes, or a number with K or M)");
	expect_error("[session]\nstall_timeout = 5\n",
	    ":2: [session] stall_timeout: bad duration '5' (use a number with ms, s, m or h, "
	    "e.g. 5s, or never)");
	expect_error("[session]\nmax_sessions = -1\n",
	    ":2: [session] max_sessions: bad number '-1' (use a non-negative integer)");
	expect_error("[client]\ndetach_key = ^1\n",
	    ":2: [client] detach_key: bad key '^1' (use ^X, C-x, a single character, or none)");
}

Test(config, name_values)
{
	char text[256], name[80];
	struct config *cfg;

	memset(name, 'n', 64);
	name[64] = '\0';
	snprintf(text, sizeof text, "[session]\ndefault = %s\n", name);
	cfg = expect_ok(text);
	cr_assert_str_eq(cfg->session_default, name);
	config_free(cfg);
	cfg = expect_ok("[session]\ndefault = A-z_0.9\n");
	config_free(cfg);

	strcat(name, "n");
	snprintf(text, sizeof text, "[session]\ndefault = %s\n", name);
	cfg = config_new();
	{
		char path[PATH_MAX], err[512];

		cr_assert_eq(load_text(cfg, text, path, sizeof path, err, sizeof err), -1);
	}
	config_free(cfg);
	expect_error("[session]\ndefault = ..\n",
	    ":2: [session] default: bad name '..' (use 1 to 64 of A-Z a-z 0-9 . _ -)");
	expect_error("[session]\ndefault = a/b\n",
	    ":2: [session] default: bad name 'a/b' (use 1 to 64 of A-Z a-z 0-9 . _ -)");
}

Test(config, loglevel_values)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char text[128];

	for (int i = 0; i < 4; i++) {
		struct config *cfg;

		snprintf(text, sizeof text, "[daemon]\nlog_level = %s\n", names[i]);
		cfg = expect_ok(text);
		cr_assert_eq(cfg->daemon_log_level, i);
		config_free(cfg);
	}
	expect_error("[daemon]\nlog_level = INFO\n",
	    ":2: [daemon] log_level: bad log level 'INFO' (use error, warn, info or debug)");
}

Test(config, uint_values)
{
	struct config *cfg;

	cfg = expect_ok("[session]\nmax_sessions = 4294967295\n");
	cr_assert_eq(cfg->session_max_sessions, UINT_MAX);
	config_free(cfg);
	cfg = expect_ok("[session]\nmax_sessions = 0001\n");
	cr_assert_eq(cfg->session_max_sessions, 1);
	config_free(cfg);
	expect_error("[session]\nmax_sessions = 4294967296\n",
	    ":2: [session] max_sessions: bad number '4294967296' (use a non-negative integer)");
	expect_error("[session]\nmax_sessions = 99999999999999999999999\n",
	    ":2: [session] max_sessions: bad number '99999999999999999999999' (use a "
	    "non-negative integer)");
	expect_error("[session]\nmax_sessions = +1\n",
	    ":2: [session] max_sessions: bad number '+1' (use a non-negative integer)");
	expect_error("[session]\nmax_sessions =\n",
	    ":2: [session] max_sessions: bad number '' (use a non-negative integer)");
	expect_error("[session]\nmax_sessions = 1K\n",
	    ":2: [session] max_sessions: bad number '1K' (use a non-negative integer)");
	expect_error("[session]\nmax_sessions = 0x10\n",
	    ":2: [session] max_sessions: bad number '0x10' (use a non-negative integer)");
}

Test(config, path_values)
{
	struct config *cfg = expect_ok("[session]\nshell = /bin/zsh -l\n");

	cr_assert_str_eq(cfg->session_shell, "/bin/zsh -l");
	config_free(cfg);
	expect_error("[session]\nshell = zsh\n",
	    ":2: [session] shell: bad path 'zsh' (use an absolute path, or nothing for the "
	    "default)");
	expect_error("[session]\nshell = ~/bin/sh\n",
	    ":2: [session] shell: bad path '~/bin/sh' (use an absolute path, or nothing for the "
	    "default)");
}

/*
 * Value parsers.
 */

Test(config, parse_duration)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "0ms", 0 },
		{ "0s", 0 },
		{ "1ms", 1 },
		{ "250ms", 250 },
		{ "5s", 5000 },
		{ "10m", 600000 },
		{ "24h", 86400000 },
		{ "007s", 7000 },
		{ "never", CONFIG_NEVER },
		{ "9223372036854775807ms", INT64_MAX },
	};
	static const char *const bad[] = {
		"", "5", "0", "-1s", "+1s", "s", "ms", "1.5s", "5 s", " 5s", "5s ", "5S",
		"5sec", "5d", "1h30m", "Never", "never ", "9223372036854775808ms",
		"99999999999999999999999ms", "0x10s", "5ms5",
	};
	char buf[64];
	int64_t ms;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		ms = 42;
		cr_assert_eq(config_parse_duration(good[i].s, &ms), 0, "'%s' refused", good[i].s);
		cr_assert_eq(ms, good[i].ms, "'%s' gave %" PRId64, good[i].s, ms);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ms = 42;
		cr_assert_eq(config_parse_duration(bad[i], &ms), -1, "'%s' accepted", bad[i]);
		cr_assert_eq(ms, 42, "'%s' changed the output", bad[i]);
	}

	/* The largest count of each unit, and one more. */
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		int64_t max = INT64_MAX / units[i].ms;

		snprintf(buf, sizeof buf, "%" PRId64 "%s", max, units[i].unit);
		cr_assert_eq(config_parse_duration(buf, &ms), 0, "'%s' refused", buf);
		cr_assert_eq(ms, max * units[i].ms);
		snprintf(buf, sizeof buf, "%" PRId64 "%s", max + 1, units[i].unit);
		cr_assert_eq(config_parse_duration(buf, &ms), -1, "'%s' accepted", buf);
	}
}

Test(config, parse_size)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} good[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "4096", 4096 },
		{ "64K", 65536 },
		{ "64k", 65536 },
		{ "1M", 1048576 },
		{ "1m", 1048576 },
		{ "0K", 0 },
		{ "1024M", 1073741824 },
		{ "18446744073709551615", UINT64_MAX },
		{ "18014398509481983K", UINT64_C(18014398509481983) * 1024 },
		{ "17592186044415M", UINT64_C(17592186044415) * 1048576 },
	};
	static const char *const bad[] = {
		"", "-1", "+1", "K", "M", "1G", "1KB", "1KiB", "1.5M", "1 K", " 1", "1 ",
		"abc", "0x10", "1MK", "18446744073709551616", "18014398509481984K",
		"17592186044416M", "99999999999999999999999",
	};
	uint64_t bytes;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		bytes = 42;
		cr_assert_eq(config_parse_size(good[i].s, &bytes), 0, "'%s' refused", good[i].s);
		cr_assert_eq(bytes, good[i].bytes, "'%s' gave %" PRIu64, good[i].s, bytes);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bytes = 42;
		cr_assert_eq(config_parse_size(bad[i], &bytes), -1, "'%s' accepted", bad[i]);
		cr_assert_eq(bytes, 42, "'%s' changed the output", bad[i]);
	}
}

Test(config, parse_key)
{
	static const struct {
		const char *s;
		int key;
	} good[] = {
		{ "^\\", 0x1c },
		{ "C-\\", 0x1c },
		{ "^A", 0x01 },
		{ "^a", 0x01 },
		{ "C-a", 0x01 },
		{ "C-A", 0x01 },
		{ "^Z", 0x1a },
		{ "^z", 0x1a },
		{ "^@", 0x00 },
		{ "^[", 0x1b },
		{ "^]", 0x1d },
		{ "^^", 0x1e },
		{ "^_", 0x1f },
		{ "^?", 0x7f },
		{ "C-?", 0x7f },
		{ "x", 'x' },
		{ "^", '^' },
		{ "C", 'C' },
		{ "~", '~' },
		{ "!", '!' },
		{ ";", ';' },
		{ "none", -1 },
	};
	static const char *const bad[] = {
		"", "^1", "^ ", "^`", "^{", "^~", "^AB", "C-", "C-ab", "c-a", "C-1",
		"M-a", "ab", "None", "NONE", " ", "\t", "\x7f", "\x01", "\xc3\xa9", "\xff",
	};
	int key;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		key = 42;
		cr_assert_eq(config_parse_key(good[i].s, &key), 0, "'%s' refused", good[i].s);
		cr_assert_eq(key, good[i].key, "'%s' gave %d", good[i].s, key);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		key = 42;
		cr_assert_eq(config_parse_key(bad[i], &key), -1, "'%s' accepted", bad[i]);
		cr_assert_eq(key, 42, "'%s' changed the output", bad[i]);
	}
}

Test(config, key_format_round_trip)
{
	char buf[16];
	int key;

	for (int k = -1; k < 0x80; k++) {
		if (k == ' ')
			continue; /* not writable as an INI value */
		config_format_key(k, buf, sizeof buf);
		cr_assert_eq(config_parse_key(buf, &key), 0, "%d formats as unparsable '%s'", k, buf);
		cr_assert_eq(key, k, "%d formats as '%s', which reads back as %d", k, buf, key);
	}
}

Test(config, format_duration)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
		{ CONFIG_NEVER, "never" },
		{ 0, "0s" },
		{ 1, "1ms" },
		{ 250, "250ms" },
		{ 1500, "1500ms" },
		{ 5000, "5s" },
		{ 90000, "90s" },
		{ 600000, "10m" },
		{ 5400000, "90m" },
		{ 86400000, "24h" },
		{ INT64_MAX, "9223372036854775807ms" },
	};
	char buf[64];
	int64_t back;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		config_format_duration(cases[i].ms, buf, sizeof buf);
		cr_assert_str_eq(buf, cases[i].s);
		cr_assert_eq(config_parse_duration(buf, &back), 0);
		cr_assert_eq(back, cases[i].ms);
	}
}

Test(config, format_size)
{
	static const struct {
		uint64_t bytes;
		const char *s;
	} cases[] = {
		{ 0, "0" },
		{ 1, "1" },
		{ 1000, "1000" },
		{ 1024, "1K" },
		{ 1536, "1536" },
		{ 65536, "64K" },
		{ 1048576, "1M" },
		{ 1048576 + 1024, "1025K" },
		{ 1048576 + 1, "1048577" },
		{ 1073741824, "1024M" },
		{ UINT64_MAX, "18446744073709551615" },
	};
	char buf[64];
	uint64_t back;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		config_format_size(cases[i].bytes, buf, sizeof buf);
		cr_assert_str_eq(buf, cases[i].s);
		cr_assert_eq(config_parse_size(buf, &back), 0);
		cr_assert_eq(back, cases[i].bytes);
	}
}

Test(config, format_key)
{
	static const struct {
		int key;
		const char *s;
	} cases[] = {
		{ -1, "none" },
		{ 0x1c, "^\\" },
		{ 0x01, "^A" },
		{ 0x00, "^@" },
		{ 0x1b, "^[" },
		{ 0x7f, "^?" },
		{ 'x', "x" },
	};
	char buf[16];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		config_format_key(cases[i].key, buf, sizeof buf);
		cr_assert_str_eq(buf, cases[i].s);
	}
}

Test(config, format_truncates)
{
	char buf[3];

	config_format_duration(250, buf, sizeof buf);
	cr_assert_str_eq(buf, "25");
	config_format_size(1000, buf, sizeof buf);
	cr_assert_str_eq(buf, "10");
	config_format_key(-1, buf, sizeof buf);
	cr_assert_str_eq(buf, "no");
}

/*
 * Checks: config_validate alone (no prefix) and from config_load.
 */

/* config_validate on the defaults changed by set() must fail with want. */
#define EXPECT_INVALID(set, want)                                                     \
	do {                                                                          \
		struct config *c_ = config_new();                                     \
		char e_[512] = "";                                                    \
		set;                                                                  \
		cr_assert_eq(config_validate(c_, e_, sizeof e_), -1, "valid: " #set); \
		cr_assert_str_eq(e_, want);                                           \
		config_free(c_);                                                      \
	} while (0)

/* config_validate on the defaults changed by set() must pass. */
#define EXPECT_VALID(set)                                                      \
	do {                                                                   \
		struct config *c_ = config_new();                              \
		char e_[512] = "";                                             \
		set;                                                           \
		cr_assert_eq(config_validate(c_, e_, sizeof e_), 0, "%s", e_); \
		config_free(c_);                                               \
	} while (0)

#define K UINT64_C(1024)
#define M (K * K)

Test(config, check_scrollback)
{
	EXPECT_VALID((c_->session_scrollback = 4 * K, c_->session_client_buffer = 4 * K));
	EXPECT_VALID(c_->session_scrollback = 1024 * M);
	EXPECT_INVALID((c_->session_scrollback = 4 * K - 1, c_->session_client_buffer = 4 * K),
	    "[session] scrollback (4095) must be between 4K and 1024M");
	EXPECT_INVALID(c_->session_scrollback = 1024 * M + 1,
	    "[session] scrollback (1073741825) must be between 4K and 1024M");
	EXPECT_INVALID(c_->session_scrollback = 2048 * M,
	    "[session] scrollback (2048M) must be between 4K and 1024M");
}

Test(config, check_client_buffer)
{
	EXPECT_VALID(c_->session_client_buffer = 4 * K);
	EXPECT_VALID(c_->session_client_buffer = c_->session_scrollback);
	EXPECT_INVALID(c_->session_client_buffer = 4 * K - 1,
	    "[session] client_buffer (4095) must be at least 4K");
	EXPECT_INVALID(c_->session_client_buffer = 0,
	    "[session] client_buffer (0) must be at least 4K");
	EXPECT_INVALID(c_->session_client_buffer = M + 1,
	    "[session] client_buffer (1048577) must be at most [session] scrollback (1M)");
	EXPECT_INVALID((c_->session_scrollback = 64 * K, c_->session_client_buffer = 65 * K),
	    "[session] client_buffer (65K) must be at most [session] scrollback (64K)");
}

Test(config, check_max_sessions)
{
	EXPECT_VALID(c_->session_max_sessions = 1);
	EXPECT_VALID(c_->session_max_sessions = UINT_MAX);
	EXPECT_INVALID(c_->session_max_sessions = 0,
	    "[session] max_sessions (0) must be at least 1");
}

Test(config, check_stall_timeout)
{
	EXPECT_VALID(c_->session_stall_timeout = 1);
	EXPECT_VALID(c_->session_stall_timeout = CONFIG_NEVER);
	EXPECT_INVALID(c_->session_stall_timeout = 0,
	    "[session] stall_timeout (0s) must be more than 0, or never");
}

Test(config, check_heartbeat_interval)
{
	EXPECT_VALID(c_->heartbeat_interval = 1);
	EXPECT_INVALID(c_->heartbeat_interval = 0,
	    "[heartbeat] interval (0s) must be more than 0");
	EXPECT_INVALID(c_->heartbeat_interval = CONFIG_NEVER,
	    "[heartbeat] interval (never) cannot be never");
}

Test(config, check_heartbeat_timeout)
{
	EXPECT_VALID(c_->heartbeat_timeout = 6000);
	EXPECT_VALID((c_->heartbeat_interval = 1, c_->heartbeat_timeout = 2));
	EXPECT_VALID((c_->heartbeat_interval = 3600000, c_->heartbeat_timeout = 86400000));
	EXPECT_INVALID(c_->heartbeat_timeout = 5000,
	    "[heartbeat] timeout (5s) must be at least twice [heartbeat] interval (3s)");
	EXPECT_INVALID(c_->heartbeat_timeout = 5999,
	    "[heartbeat] timeout (5999ms) must be at least twice [heartbeat] interval (3s)");
	EXPECT_INVALID((c_->heartbeat_interval = 1, c_->heartbeat_timeout = 1),
	    "[heartbeat] timeout (1ms) must be at least twice [heartbeat] interval (1ms)");
	EXPECT_INVALID((c_->heartbeat_interval = 3600000, c_->heartbeat_timeout = 86400001),
	    "[heartbeat] timeout (86400001ms) must be at most 24h");
	EXPECT_INVALID((c_->heartbeat_interval = 13 * 3600000, c_->heartbeat_timeout = 86400000),
	    "[heartbeat] timeout (24h) must be at least twice [heartbeat] interval (13h)");
	EXPECT_INVALID(c_->heartbeat_timeout = 0,
	    "[heartbeat] timeout (0s) must be at least twice [heartbeat] interval (3s)");
	EXPECT_INVALID(c_->heartbeat_timeout = CONFIG_NEVER,
	    "[heartbeat] timeout (never) cannot be never");
}

Test(config, check_from_file_names_line)
{
	/* The key named first was set in the file: its line. */
	expect_error("[heartbeat]\n\ntimeout = 5s\n",
	    ":3: [heartbeat] timeout (5s) must be at least twice [heartbeat] interval (3s)");
	/* Only the second key was set in the file: its line. */
	expect_error("[heartbeat]\ninterval = 10s\n",
	    ":2: [heartbeat] timeout (12s) must be at least twice [heartbeat] interval (10s)");
	/* Both: the first key's line. */
	expect_error("[heartbeat]\ntimeout = 5s\ninterval = 3s\n",
	    ":2: [heartbeat] timeout (5s) must be at least twice [heartbeat] interval (3s)");
	/* Set twice: the line of the value in force. */
	expect_error("[session]\nscrollback = 64K\nscrollback = 2K\n",
	    ":3: [session] scrollback (2K) must be between 4K and 1024M");
	expect_error("[session]\nscrollback = 64K\n",
	    ":2: [session] client_buffer (1M) must be at most [session] scrollback (64K)");
	expect_error("[session]\nmax_sessions = 0\n",
	    ":2: [session] max_sessions (0) must be at least 1");
	expect_error("[session]\nstall_timeout = 0ms\n",
	    ":2: [session] stall_timeout (0s) must be more than 0, or never");
	expect_error("[heartbeat]\ninterval = never\n",
	    ":2: [heartbeat] interval (never) cannot be never");
	expect_error("[heartbeat]\ninterval = 0s\n",
	    ":2: [heartbeat] interval (0s) must be more than 0");
	expect_error("[heartbeat]\ntimeout = never\n",
	    ":2: [heartbeat] timeout (never) cannot be never");
}

Test(config, check_from_file_not_set_there)
{
	char path[PATH_MAX], err[512], want[PATH_MAX + 128];
	struct config *cfg = config_new();

	/* A bad value that came from before this file: the file is named,
	 * with no line. */
	cfg->session_max_sessions = 0;
	cr_assert_eq(load_text(cfg, "[daemon]\nlog = stderr\n", path, sizeof path, err,
			 sizeof err),
	    -1);
	snprintf(want, sizeof want, "%s: [session] max_sessions (0) must be at least 1", path);
	cr_assert_str_eq(err, want);
	config_free(cfg);
}

Test(config, stall_timeout_never_from_file)
{
	struct config *cfg = expect_ok("[session]\nstall_timeout = never\n");

	cr_assert_eq(cfg->session_stall_timeout, CONFIG_NEVER);
	config_free(cfg);
}

/*
 * The dump.
 */

Test(config, dump_defaults)
{
	struct config *cfg = config_new();
	char *text = dump_string(cfg);

	cr_assert_str_eq(text, "# persh: effective configuration\n"
			       "\n"
			       "[daemon]\n"
			       "runtime_dir =\n"
			       "log = auto\n"
			       "log_level = info\n"
			       "\n"
			       "[session]\n"
			       "default = main\n"
			       "shell =\n"
			       "term =\n"
			       "scrollback = 1M\n"
			       "restore = screen\n"
			       "client_buffer = 1M\n"
			       "stall_timeout = 2s\n"
			       "max_sessions = 1024\n"
			       "orphan_timeout = 24h\n"
			       "detached_timeout = never\n"
			       "hangup_grace = 2s\n"
			       "\n"
			       "[heartbeat]\n"
			       "interval = 3s\n"
			       "timeout = 12s\n"
			       "\n"
			       "[ssh]\n"
			       "listen =\n"
			       "host_key =\n"
			       "authorized_keys =\n"
			       "keepalive_interval = 5s\n"
			       "keepalive_count = 3\n"
			       "login_grace = 30s\n"
			       "max_unauth = 10\n"
			       "max_unauth_per_source = 3\n"
			       "\n"
			       "[client]\n"
			       "detach_key = ^\\\n"
			       "reconnect = yes\n"
			       "reconnect_base = 250ms\n"
			       "reconnect_max = 15s\n"
			       "ssh_config =\n"
			       "\n"
			       "[relay]\n"
			       "listen =\n"
			       "target = 127.0.0.1:22\n"
			       "buffer = 8M\n"
			       "resume_window = 10m\n"
			       "max_streams = 64\n");
	free(text);
	config_free(cfg);
}

Test(config, dump_has_every_key)
{
	struct config *cfg = config_new();
	char *text = dump_string(cfg);
	char want[128];
	const char *start, *next, *at;

	/* Each key inside its own section: between its header and the next
	 * one (two sections may have a key of the same name). */
#define HAS(sec, key, type, def, doc)                                                 \
	snprintf(want, sizeof want, "\n" #key " =");                                  \
	start = strstr(text, "\n[" #sec "]\n");                                       \
	cr_assert_not_null(start, "dump lacks [" #sec "]");                           \
	next = strstr(start + 1, "\n[");                                              \
	at = strstr(start, want);                                                     \
	cr_assert_not_null(at, "dump lacks " #key);                                   \
	cr_assert(next == NULL || at < next, "[" #sec "] " #key " not in its section");
	CONFIG_TABLE(HAS)
#undef HAS
	free(text);
	config_free(cfg);
}

Test(config, dump_round_trip_defaults)
{
	struct config *cfg = config_new();

	expect_round_trip(cfg);
	config_free(cfg);
}

Test(config, dump_round_trip_every_key)
{
	struct config *cfg = expect_ok(every_key);

	expect_round_trip(cfg);
	config_free(cfg);
}

Test(config, dump_round_trip_edge_values)
{
	/* Values inih could mangle: ';' first (" ;" starts a comment), '#',
	 * '=' and ':' inside, never, none, plain bytes. */
	struct config *cfg = expect_ok("[daemon]\n"
				       "log =;odd\n"
				       "runtime_dir = /a=b:c;d #e\n"
				       "[session]\n"
				       "term = #x\n"
				       "scrollback = 1048577\n"
				       "client_buffer = 5000\n"
				       "stall_timeout = never\n"
				       "[heartbeat]\n"
				       "interval = 1500ms\n"
				       "timeout = 3001ms\n"
				       "[client]\n"
				       "detach_key =;\n");

	cr_assert_str_eq(cfg->daemon_log, ";odd");
	cr_assert_str_eq(cfg->daemon_runtime_dir, "/a=b:c;d #e");
	cr_assert_str_eq(cfg->session_term, "#x");
	cr_assert_eq(cfg->client_detach_key, ';');
	expect_round_trip(cfg);
	config_free(cfg);

	cfg = expect_ok("[client]\ndetach_key = none\n");
	cr_assert_eq(cfg->client_detach_key, -1);
	expect_round_trip(cfg);
	config_free(cfg);

	cfg = expect_ok("[client]\ndetach_key = ^?\n");
	expect_round_trip(cfg);
	config_free(cfg);
}

Test(config, dump_round_trip_longest_values)
{
	/* Values that fill the longest line as "key=value": the dump has no
	 * room for blanks around the '=' (found by tests/fuzz/fuzz_config). */
	char text[2 * LONGEST_LINE + 64], value[LONGEST_LINE + 1];
	size_t n = LONGEST_LINE - strlen("log=");
	struct config *cfg;

	memset(value, 'a', n);
	value[n] = '\0';
	snprintf(text, sizeof text, "[daemon]\nlog=%s\n[session]\nterm=;%s\n", value, value + 2);
	cfg = expect_ok(text);
	cr_assert_eq(strlen(cfg->daemon_log), n);
	cr_assert_eq(strlen(cfg->session_term), n - 1);
	expect_round_trip(cfg);
	config_free(cfg);
}

/*
 * conf/persh.ini, found through $PERSH_SOURCE_ROOT.
 */

/* Path of conf/persh.ini in the source tree, or skip the test. */
static void
sample_path(char *buf, size_t len)
{
	const char *root = getenv("PERSH_SOURCE_ROOT");

	if (root == NULL || *root == '\0') {
		/* Criterion does not run .fini after a skip. */
		teardown();
		cr_skip_test("PERSH_SOURCE_ROOT is not set");
	}
	snprintf(buf, len, "%s/conf/persh.ini", root);
}

/* The contents of a file; the caller frees. */
static char *
read_all(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *s;
	long n;

	cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
	cr_assert_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	cr_assert_geq(n, 0);
	rewind(fp);
	s = malloc((size_t)n + 1);
	cr_assert_not_null(s);
	cr_assert_eq(fread(s, 1, (size_t)n, fp), (size_t)n);
	s[n] = '\0';
	fclose(fp);
	return s;
}

Test(config, sample_loads_as_defaults)
{
	char path[PATH_MAX], err[1024] = "";
	struct config *cfg = config_new();
	struct config *def = config_new();
	const char *diff;

	sample_path(path, sizeof path);
	cr_assert_eq(config_load(cfg, path, err, sizeof err), 0, "%s", err);
	diff = config_diff(cfg, def);
	cr_assert_null(diff, "%s differs from the default", diff);
	config_free(def);
	config_free(cfg);
}

Test(config, sample_documents_every_default)
{
	char path[PATH_MAX], line[64];
	char section[64] = "";
	char *text, *p, *nl, *plain;
	size_t plainlen = 0;
	FILE *out;
	struct config *cfg, *def;
	int found[64] = { 0 }, n = 0;
	static const struct {
		const char *section, *key, *def;
	} keys[] = {
#define KEY(sec, key, type, def, doc) { #sec, #key, def },
		CONFIG_TABLE(KEY)
#undef KEY
	};

	cr_assert_lt(sizeof keys / sizeof keys[0], sizeof found / sizeof found[0]);
	sample_path(path, sizeof path);
	text = read_all(path);
	out = open_memstream(&plain, &plainlen);
	cr_assert_not_null(out);

	/* Every key must appear, commented out, as "# key = default" under
	 * its own section; and no line may set anything. Uncommenting those
	 * lines gives a file that must load as the defaults. */
	for (p = text; *p != '\0'; p = nl + 1) {
		size_t len;

		nl = strchr(p, '\n');
		cr_assert_not_null(nl, "last line of %s lacks a newline", path);
		len = (size_t)(nl - p);
		if (*p == '[') {
			cr_assert_lt(len, sizeof section);
			memcpy(section, p + 1, len - 2);
			section[len - 2] = '\0';
			fprintf(out, "%.*s\n", (int)len, p);
			continue;
		}
		if (*p != '#' && *p != ';')
			cr_assert_eq(len, 0, "line sets something: %.*s", (int)len, p);
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			int m = snprintf(line, sizeof line, "# %s =", keys[i].key);

			if (strcmp(keys[i].section, section) != 0 || len < (size_t)m ||
			    strncmp(p, line, (size_t)m) != 0)
				continue;
			if (*keys[i].def == '\0')
				cr_assert_eq(len, (size_t)m, "%.*s: default is empty", (int)len, p);
			else {
				cr_assert_eq(len, (size_t)m + 1 + strlen(keys[i].def), "%.*s",
				    (int)len, p);
				cr_assert_eq(strncmp(p + m, " ", 1), 0);
				cr_assert_eq(strncmp(p + m + 1, keys[i].def, strlen(keys[i].def)),
				    0, "%.*s: default is %s", (int)len, p, keys[i].def);
			}
			cr_assert_eq(found[i], 0, "[%s] %s shown twice", section, keys[i].key);
			found[i] = 1;
			n++;
			fprintf(out, "%.*s\n", (int)len - 2, p + 2);
		}
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		cr_assert(found[i], "[%s] %s is not documented", keys[i].section, keys[i].key);
	cr_assert_eq(fclose(out), 0);

	{
		char upath[PATH_MAX], err[1024] = "";
		const char *diff;

		cr_assert_eq(n, (int)(sizeof keys / sizeof keys[0]));
		write_file(upath, sizeof upath, "uncommented.ini", plain, plainlen);
		cfg = config_new();
		def = config_new();
		cr_assert_eq(config_load(cfg, upath, err, sizeof err), 0, "%s\n%s", err, plain);
		diff = config_diff(cfg, def);
		cr_assert_null(diff, "%s: documented default differs", diff);
		config_free(def);
		config_free(cfg);
	}
	free(plain);
	free(text);
}

/*
 * doc/persh.ini.5.scd, the manual page: every key of the table, with its
 * type, its default and its description, under its own section.
 */

/* Collapse runs of white space into one space, in place; with markup, also
 * drop scdoc's bold marks and backslash escapes, and without it drop the
 * backquotes of the table's texts (scdoc prints them as they are). */
static void
squeeze(char *s, int markup)
{
	char *w = s;
	int space = 1;

	for (char *r = s; *r != '\0'; r++) {
		if (markup && *r == '*')
			continue;
		if (!markup && *r == '`')
			continue;
		if (markup && *r == '\\' && r[1] != '\0')
			r++;
		if (*r == ' ' || *r == '\t' || *r == '\n') {
			if (!space)
				*w++ = ' ';
			space = 1;
			continue;
		}
		*w++ = *r;
		space = 0;
	}
	if (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
}

Test(config, manual_documents_every_key)
{
	static const struct {
		const char *section, *key, *type, *def, *doc;
	} keys[] = {
#define KEY(sec, key, type, def, doc) { #sec, #key, #type, def, doc },
		CONFIG_TABLE(KEY)
#undef KEY
	};
	const char *root = getenv("PERSH_SOURCE_ROOT");
	char path[PATH_MAX], want[512], doc[1024], para[4096];
	char *text, *sec, *end, *line, *p;
	size_t nkeys = sizeof keys / sizeof keys[0];
	int documented = 0;

	if (root == NULL || *root == '\0') {
		teardown();
		cr_skip_test("PERSH_SOURCE_ROOT is not set");
	}
	snprintf(path, sizeof path, "%s/doc/persh.ini.5.scd", root);
	text = read_all(path);

	for (size_t i = 0; i < nkeys; i++) {
		/* The section: from its "## [name]" heading to the next heading. */
		snprintf(want, sizeof want, "\n## [%s]\n", keys[i].section);
		sec = strstr(text, want);
		cr_assert_not_null(sec, "%s: no heading \"## [%s]\"", path, keys[i].section);
		sec += strlen(want);
		end = strstr(sec, "\n#");
		if (end == NULL)
			end = sec + strlen(sec);

		/* "*key* = _type_, default *value*" (or "default empty"), with
		 * scdoc's escaping of backslashes. */
		p = want + snprintf(want, sizeof want, "\n*%s* = _%s_, default ", keys[i].key,
				   keys[i].type);
		if (*keys[i].def == '\0') {
			strcpy(p, "empty\n");
		} else {
			*p++ = '*';
			for (const char *d = keys[i].def; *d != '\0'; d++) {
				if (*d == '\\')
					*p++ = '\\';
				*p++ = *d;
			}
			strcpy(p, "*\n");
		}
		line = strstr(sec - 1, want);
		cr_assert(line != NULL && line < end, "%s: [%s] %s lacks the line \"%.*s\"", path,
		    keys[i].section, keys[i].key, (int)strlen(want) - 2, want + 1);

		/* Its paragraph (the lines indented below it) starts with the
		 * table's description. */
		para[0] = '\0';
		for (p = line + strlen(want); *p == '\t';) {
			char *nl = strchr(p, '\n');
			size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

			cr_assert_lt(strlen(para) + n + 2, sizeof para);
			strncat(para, p, n);
			strcat(para, " ");
			p += n + (nl != NULL);
		}
		snprintf(doc, sizeof doc, "%s", keys[i].doc);
		squeeze(doc, 0);
		squeeze(para, 1);
		cr_assert_eq(strncmp(para, doc, strlen(doc)), 0,
		    "%s: [%s] %s is described as\n  %s\nbut config.h says\n  %s", path,
		    keys[i].section, keys[i].key, para, doc);
	}

	/* And nothing else: no key the table does not have. */
	for (p = text; (p = strstr(p, "\n*")) != NULL; p++) {
		char *mark = strstr(p, "* = _"), *nl = strchr(p + 1, '\n');

		if (mark != NULL && (nl == NULL || mark < nl))
			documented++;
	}
	cr_assert_eq(documented, (int)nkeys, "%s documents %d keys, config.h has %zu", path,
	    documented, nkeys);
	free(text);
}

/*
 * [relay]
 */

Test(config, relay_keys_load)
{
	struct config *cfg = expect_ok("[relay]\n"
				       "listen = [::1]:2223\n"
				       "target = host.example:2022\n"
				       "buffer = 1024M\n"
				       "resume_window = 2s\n");

	cr_assert_str_eq(cfg->relay_listen, "[::1]:2223");
	cr_assert_str_eq(cfg->relay_target, "host.example:2022");
	cr_assert_eq(cfg->relay_buffer, 1024ULL * 1024 * 1024);
	cr_assert_eq(cfg->relay_resume_window, 2000);
	config_free(cfg);
	cfg = expect_ok("[relay]\ntarget = [::1]:22\nbuffer = 64K\n");
	cr_assert_eq(cfg->relay_buffer, 64 * 1024);
	config_free(cfg);
}

Test(config, relay_checks)
{
	expect_error("[relay]\ntarget = nowhere\n",
	    ":2: [relay] target (nowhere) must be HOST:PORT, [IPv6]:PORT or ssh");
	expect_error("[relay]\ntarget =\n", ":2: [relay] target () must be HOST:PORT, [IPv6]:PORT or ssh");
	expect_error("[relay]\ntarget = host:0\n",
	    ":2: [relay] target (host:0) must be HOST:PORT, [IPv6]:PORT or ssh");
	expect_error("[relay]\nlisten = 127.0.0.1:2223\ntarget = ssh\n",
	    ":3: [relay] target (ssh) needs an address in [ssh] listen ()");
	expect_error("[relay]\nbuffer = 63K\n",
	    ":2: [relay] buffer (63K) must be between 64K and 1024M");
	expect_error("[relay]\nbuffer = 1025M\n",
	    ":2: [relay] buffer (1025M) must be between 64K and 1024M");
	expect_error("[relay]\nresume_window = never\n",
	    ":2: [relay] resume_window (never) must be more than 0 (it cannot be never)");
	expect_error("[relay]\nresume_window = 0s\n",
	    ":2: [relay] resume_window (0s) must be more than 0 (it cannot be never)");
	expect_error("[relay]\nmax_streams = 0\n", ":2: [relay] max_streams (0) must be at least 1");
	expect_error("[relay]\nlisten = 2223\n",
	    ":2: [relay] listen: bad address '2223' (use HOST:PORT, [IPv6]:PORT, or nothing)");
}

Test(config, relay_target_ssh_with_endpoint)
{
	struct config *cfg = expect_ok("[ssh]\nlisten = 127.0.0.1:2222\n"
				       "[relay]\nlisten = 127.0.0.1:2223\ntarget = ssh\n");

	cr_assert_str_eq(cfg->relay_target, "ssh");
	config_free(cfg);
	/* With the relay off, "ssh" alone is fine: nothing connects to it. */
	cfg = expect_ok("[relay]\ntarget = ssh\n");
	config_free(cfg);
}
