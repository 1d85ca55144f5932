/* Logging: one line per event, to stderr, syslog or a file. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_lvl = LOG_LVL_INFO;
static int log_syslog;
static int log_journal; /* stderr is systemd's journal stream */
static FILE *log_fp;

static const char *const log_names[] = { "error", "warn", "info", "debug" };
static const int log_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* Whether stderr is the stream systemd connected to the journal: it says
 * so in $JOURNAL_STREAM as "DEVICE:INODE" of that stream. */
static int
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Choose where lines go: "stderr", "syslog", a file path, or "auto". */
int
log_open(const char *target, int level, int foreground)
{
	log_lvl = level;
	if (target == NULL || strcmp(target, "auto") == 0)
		target = foreground ? "stderr" : "syslog";
	if (strcmp(target, "stderr") == 0) {
		log_fp = stderr;
		log_journal = log_stderr_is_journal();
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		openlog("persh", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
		return 0;
	}
	log_fp = fopen(target, "ae");
	if (log_fp == NULL)
		return -1;
	setvbuf(log_fp, NULL, _IOLBF, 0);
	return 0;
}

/* Change the threshold at run time (SIGHUP reload). */
void
log_set_level(int level)
{
	log_lvl = level;
}

/* Map "error".."debug" to a level, -1 if unknown. */
int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof log_names / sizeof log_names[0]; i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Name of a level, for the configuration dump. */
const char *
log_level_name(int level)
{
	if (level < 0 || level > LOG_LVL_DEBUG)
		return "?";
	return log_names[level];
}

/* Emit one line if the level passes; preserves errno for callers. */
void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;
	char line[1024];

	if (level > log_lvl)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One event, one line: a peer's text must not forge lines of its own. */
	for (char *p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (log_syslog) {
		syslog(log_prio[level], "%s", line);
	} else if (log_journal) {
		/* journald stamps the time and pid itself. */
		fprintf(log_fp, "<%d>%s: %s\n", log_prio[level], log_names[level], line);
	} else if (log_fp != NULL) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		/* "<N>" is the syslog priority prefix journald understands. */
		fprintf(log_fp, "<%d>%s.%03ld persh[%d] %s: %s\n", log_prio[level], stamp,
		    ts.tv_nsec / 1000000, (int)getpid(), log_names[level], line);
	}
	errno = saved;
}

/* Close the log before exec or exit. */
void
log_close(void)
{
	if (log_syslog)
		closelog();
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	log_syslog = 0;
	log_journal = 0;
}

/* Start-up only: print "persh: ..." on stderr and exit with status. */
void
fatal(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("persh: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}
