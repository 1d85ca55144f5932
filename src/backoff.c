/* Reconnect delays: exponential backoff with full jitter. */
#include "backoff.h"

#include <stdlib.h>
#include <unistd.h>

#include "util.h"

struct backoff {
	int64_t base, cap;
	unsigned attempt;
	uint64_t rng;
};

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t
backoff_rand(struct backoff *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545F4914F6CDD1DULL;
}

/* Delays from base_ms doubling to cap_ms. */
struct backoff *
backoff_new(int64_t base_ms, int64_t cap_ms, uint64_t seed)
{
	struct backoff *b = xcalloc(1, sizeof *b);

	b->base = base_ms > 0 ? base_ms : 1;
	b->cap = cap_ms > b->base ? cap_ms : b->base;
	if (seed == 0)
		seed = (uint64_t)now_ms() * 6364136223846793005ULL ^ (uint64_t)getpid();
	b->rng = seed ? seed : 1;
	return b;
}

/* Release it. */
void
backoff_free(struct backoff *b)
{
	free(b);
}

/* The delay before the next attempt. */
int64_t
backoff_next(struct backoff *b)
{
	int64_t ceil = b->base;

	for (unsigned i = 0; i < b->attempt && ceil < b->cap; i++)
		ceil *= 2;
	if (ceil > b->cap)
		ceil = b->cap;
	b->attempt++;
	return (int64_t)(backoff_rand(b) % (uint64_t)(ceil + 1));
}

/* Start again from base. */
void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

/* Attempts since the last reset. */
unsigned
backoff_attempts(const struct backoff *b)
{
	return b->attempt;
}
