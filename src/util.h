/* Small helpers shared by every part of persh. */
#ifndef PERSH_UTIL_H
#define PERSH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes (documented in README). An attached client that sees its
 * session end exits with the shell's own status instead. */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,       /* runtime error, e.g. session not found */
	EXIT_USAGE = 2,       /* bad command line or configuration */
	EXIT_UNREACHABLE = 3, /* no daemon and none could be started */
	EXIT_AUTH = 4,        /* authentication refused (never retried) */
};

#define NAME_MAX_LEN 64

/* 1 if s is a valid session name: [A-Za-z0-9._-], 1-64 chars. */
int name_valid(const char *s, size_t len);

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);
/* Seconds on the wall clock. */
int64_t now_wall(void);

int fd_set_nonblock(int fd, int on);
int fd_set_cloexec(int fd);

/* This program's path, resolved once (call it at start-up): after an
 * upgrade replaced the file, /proc/self/exe reads "... (deleted)", while
 * the path still names the (new) binary. NULL if it cannot be found. */
const char *self_exe(void);
/* Exec this program (self_exe) with argv; returns only on failure. */
void self_exec(char *const argv[]);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
char *xstrdup(const char *s);

/* Big-endian fixed-width fields. */
static inline void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}
static inline void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}
static inline void
put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, (uint32_t)v);
}
static inline uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

#endif
