/* Output ring: wrap-around and offset arithmetic at the boundaries. */
#include <criterion/criterion.h>
#include <string.h>

#include "ring.h"

/* Read everything held from off into out; returns bytes copied. */
static size_t
drain_from(struct ring *r, uint64_t off, uint8_t *out, size_t cap)
{
	size_t got = 0, run;
	const uint8_t *p;

	while (got < cap && (p = ring_peek(r, off, &run)) != NULL) {
		if (run > cap - got)
			run = cap - got;
		memcpy(out + got, p, run);
		got += run;
		off += run;
	}
	return got;
}

Test(ring, empty)
{
	struct ring *r = ring_create(16);
	size_t len = 99;

	cr_assert_eq(ring_head(r), 0);
	cr_assert_eq(ring_tail(r), 0);
	cr_assert_null(ring_peek(r, 0, &len));
	cr_assert_eq(len, 0);
	ring_free(r);
}

Test(ring, offsets_before_wrap)
{
	struct ring *r = ring_create(16);
	uint8_t out[16];

	ring_append(r, "hello", 5);
	cr_assert_eq(ring_head(r), 5);
	cr_assert_eq(ring_tail(r), 0);
	cr_assert_eq(drain_from(r, 0, out, sizeof out), 5);
	cr_assert_arr_eq(out, "hello", 5);
	cr_assert_eq(drain_from(r, 3, out, sizeof out), 2);
	cr_assert_arr_eq(out, "lo", 2);
	/* The head itself is not held yet; past it neither. */
	size_t len;
	cr_assert_null(ring_peek(r, 5, &len));
	cr_assert_null(ring_peek(r, 6, &len));
	ring_free(r);
}

Test(ring, exactly_full_then_one_more)
{
	struct ring *r = ring_create(8);
	uint8_t out[8];
	size_t len;

	ring_append(r, "abcdefgh", 8);
	cr_assert_eq(ring_tail(r), 0);
	cr_assert_eq(drain_from(r, 0, out, 8), 8);
	cr_assert_arr_eq(out, "abcdefgh", 8);
	ring_append(r, "i", 1);
	cr_assert_eq(ring_tail(r), 1);
	cr_assert_null(ring_peek(r, 0, &len), "offset 0 was overwritten");
	cr_assert_eq(drain_from(r, 1, out, 8), 8);
	cr_assert_arr_eq(out, "bcdefghi", 8);
	ring_free(r);
}

Test(ring, peek_splits_at_the_physical_end)
{
	struct ring *r = ring_create(8);
	size_t len;
	const uint8_t *p;

	ring_append(r, "012345", 6);
	ring_append(r, "6789", 4); /* wraps: physical 6,7 then 0,1 */
	p = ring_peek(r, 6, &len);
	cr_assert_not_null(p);
	cr_assert_eq(len, 2, "run stops at the physical end, got %zu", len);
	cr_assert_arr_eq(p, "67", 2);
	p = ring_peek(r, 8, &len);
	cr_assert_eq(len, 2);
	cr_assert_arr_eq(p, "89", 2);
	ring_free(r);
}

Test(ring, append_larger_than_capacity_keeps_the_end)
{
	struct ring *r = ring_create(4);
	uint8_t out[4];

	ring_append(r, "abcdefghij", 10);
	cr_assert_eq(ring_head(r), 10);
	cr_assert_eq(ring_tail(r), 6);
	cr_assert_eq(drain_from(r, 6, out, 4), 4);
	cr_assert_arr_eq(out, "ghij", 4);
	ring_free(r);
}

Test(ring, reserve_commit_matches_append)
{
	struct ring *r = ring_create(10);
	uint8_t out[10];
	size_t room;
	uint8_t *w;

	ring_append(r, "1234567", 7);
	w = ring_reserve(r, &room);
	cr_assert_eq(room, 3, "contiguous room to the physical end");
	memcpy(w, "abc", 3);
	ring_commit(r, 3);
	w = ring_reserve(r, &room);
	cr_assert_eq(room, 10);
	memcpy(w, "XY", 2);
	ring_commit(r, 2);
	cr_assert_eq(ring_head(r), 12);
	cr_assert_eq(drain_from(r, 2, out, 10), 10);
	cr_assert_arr_eq(out, "34567abcXY", 10);
	ring_free(r);
}

Test(ring, many_wraps_keep_offsets_exact)
{
	struct ring *r = ring_create(1000);
	uint8_t chunk[333], out[1000];
	uint64_t total = 0;

	for (int i = 0; i < 10000; i++) {
		for (size_t k = 0; k < sizeof chunk; k++)
			chunk[k] = (uint8_t)((total + k) * 7 % 251);
		ring_append(r, chunk, sizeof chunk);
		total += sizeof chunk;
	}
	cr_assert_eq(ring_head(r), total);
	cr_assert_eq(ring_tail(r), total - 1000);
	cr_assert_eq(drain_from(r, ring_tail(r), out, sizeof out), 1000);
	for (size_t k = 0; k < 1000; k++)
		cr_assert_eq(out[k], (uint8_t)((ring_tail(r) + k) * 7 % 251), "byte %zu", k);
	ring_free(r);
}

Test(ring, grows_by_doubling_then_wraps)
{
	struct ring *r = ring_create(5000);
	uint8_t out[5000];
	size_t room;
	uint64_t n = 0;

	/* Fill through every growth step with reserve/commit of odd sizes. */
	while (n < 12345) {
		uint8_t *w = ring_reserve(r, &room);
		size_t k = room < 77 ? room : 77;

		cr_assert_gt(room, 0);
		for (size_t i = 0; i < k; i++)
			w[i] = (uint8_t)((n + i) % 253);
		ring_commit(r, k);
		n += k;
	}
	cr_assert_eq(ring_tail(r), n - 5000);
	cr_assert_eq(drain_from(r, ring_tail(r), out, sizeof out), 5000);
	for (size_t i = 0; i < 5000; i++)
		cr_assert_eq(out[i], (uint8_t)((ring_tail(r) + i) % 253), "byte %zu", i);
	ring_free(r);
}

Test(ring, big_append_into_a_young_ring)
{
	struct ring *r = ring_create(3000);
	uint8_t big[10000], out[3000];

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i % 251);
	ring_append(r, "ab", 2);
	ring_append(r, big, sizeof big);
	cr_assert_eq(ring_head(r), 10002);
	cr_assert_eq(drain_from(r, ring_tail(r), out, sizeof out), 3000);
	for (size_t i = 0; i < 3000; i++)
		cr_assert_eq(out[i], (uint8_t)((7000 + i) % 251), "byte %zu", i);
	ring_free(r);
}
