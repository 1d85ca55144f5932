/* Logging: one line per event, to stderr, syslog or a file. */
#ifndef PERSH_LOG_H
#define PERSH_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))

int log_open(const char *target, int level, int foreground);
void log_set_level(int level);
int log_level_parse(const char *s);
const char *log_level_name(int level);
void log_msg(int level, const char *fmt, ...) PRINTFLIKE(2, 3);
void log_close(void);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Start-up only: print "persh: ..." on stderr and exit with status. */
__attribute__((noreturn)) void fatal(int status, const char *fmt, ...) PRINTFLIKE(2, 3);

#endif
