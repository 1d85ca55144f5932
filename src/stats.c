/* Counters of why clients and sessions ended (enum proto_end). */
#include "stats.h"

#include "proto.h"
#include "util.h"

static uint64_t counts[PROTO_END_MAX];

/* One more end for this reason. */
void
stats_count(uint16_t end)
{
	if (end > 0 && end < PROTO_END_MAX)
		counts[end]++;
}

/* How many ended for this reason since the daemon started. */
uint64_t
stats_get(uint16_t end)
{
	return end > 0 && end < PROTO_END_MAX ? counts[end] : 0;
}

/* A STATS payload: count u16, then (reason u16, total u64) pairs. */
size_t
stats_encode(uint8_t *buf, size_t cap)
{
	size_t off = 2;
	uint16_t n = 0;

	for (uint16_t e = 1; e < PROTO_END_MAX && off + 10 <= cap; e++) {
		put16(buf + off, e);
		put64(buf + off + 2, counts[e]);
		off += 10;
		n++;
	}
	put16(buf, n);
	return off;
}
