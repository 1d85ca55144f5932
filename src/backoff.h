/* Reconnect delays: exponential backoff with full jitter. */
#ifndef PERSH_BACKOFF_H
#define PERSH_BACKOFF_H

#include <stdint.h>

struct backoff;

/* Delays start at base_ms and double up to cap_ms; seed 0 picks one from
 * the clock and pid (tests pass their own to get a repeatable sequence). */
struct backoff *backoff_new(int64_t base_ms, int64_t cap_ms, uint64_t seed);
void backoff_free(struct backoff *b);
/* The delay before the next attempt: uniform in [0, min(cap, base * 2^n)]
 * for the n-th retry, so that many clients that lost the same daemon at
 * once spread their attempts instead of arriving together. */
int64_t backoff_next(struct backoff *b);
/* After a successful attach: the next loss starts again from base. */
void backoff_reset(struct backoff *b);
/* Attempts since the last reset. */
unsigned backoff_attempts(const struct backoff *b);

#endif
