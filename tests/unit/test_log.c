/* The log: one line per event whatever the message holds, and the format
 * journald wants when stderr is systemd's journal stream. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Everything in the file at path (at most cap - 1 bytes). */
static void
slurp(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	cr_assert_not_null(fp);
	n = fread(buf, 1, cap - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

Test(log, file_lines_cannot_be_forged)
{
	char path[] = "/tmp/persh-test-log-XXXXXX", buf[4096];
	int fd = mkstemp(path);

	cr_assert(fd != -1);
	close(fd);
	cr_assert_eq(log_open(path, LOG_LVL_INFO, 0), 0);
	log_info("ssh %s: unknown command '%s'", "1.2.3.4:5",
	    "x'\n<3>2026-01-01T00:00:00.000 persh[1] error: forged\r\tbell\a");
	log_debug("below the level: not written");
	log_close();
	slurp(path, buf, sizeof buf);
	unlink(path);
	cr_assert_eq(strchr(buf, '\n'), buf + strlen(buf) - 1, "more than one line: %s", buf);
	cr_assert_not_null(strstr(buf, "<6>"));
	cr_assert_not_null(strstr(buf, " info: ssh 1.2.3.4:5: unknown command 'x'?<3>"), "%s", buf);
	cr_assert_not_null(strstr(buf, "forged??bell?'"), "%s", buf);
	cr_assert_null(strstr(buf, "below the level"));
}

/* stderr pointed at path with JOURNAL_STREAM naming it (or not), one line
 * logged; what was written. */
static void
log_via_stderr(const char *path, int journal, char *buf, size_t cap)
{
	struct stat st;
	char js[64];
	int saved = dup(2), fd = open(path, O_WRONLY | O_TRUNC);

	cr_assert(fd != -1 && saved != -1);
	cr_assert(dup2(fd, 2) == 2);
	close(fd);
	cr_assert(fstat(2, &st) == 0);
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (journal ? 0 : 1));
	setenv("JOURNAL_STREAM", js, 1);
	cr_assert_eq(log_open("auto", LOG_LVL_INFO, 1), 0);
	log_warn("session %s: orphaned", "main");
	log_close();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	slurp(path, buf, cap);
}

Test(log, journald_gets_priority_prefix_without_stamp)
{
	char path[] = "/tmp/persh-test-log-XXXXXX", buf[4096];
	int fd = mkstemp(path);

	cr_assert(fd != -1);
	close(fd);
	log_via_stderr(path, 1, buf, sizeof buf);
	cr_assert_str_eq(buf, "<4>warn: session main: orphaned\n");
	/* Someone else's JOURNAL_STREAM (inherited, stderr redirected since):
	 * the full line with time and pid. */
	log_via_stderr(path, 0, buf, sizeof buf);
	unlink(path);
	cr_assert(strncmp(buf, "<4>20", 5) == 0, "%s", buf);
	cr_assert_not_null(strstr(buf, " persh["));
	cr_assert_not_null(strstr(buf, "] warn: session main: orphaned\n"));
}
