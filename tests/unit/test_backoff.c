/* Backoff: bounds of every step, the spread of the jitter, reset. */
#include <criterion/criterion.h>

#include "backoff.h"

Test(backoff, each_step_within_its_ceiling)
{
	struct backoff *b = backoff_new(100, 1000, 42);
	const int64_t ceil[] = { 100, 200, 400, 800, 1000, 1000, 1000 };

	for (int round = 0; round < 200; round++) {
		backoff_reset(b);
		for (size_t i = 0; i < sizeof ceil / sizeof ceil[0]; i++) {
			int64_t d = backoff_next(b);

			cr_assert(d >= 0 && d <= ceil[i], "step %zu: %lld not in [0, %lld]", i,
			    (long long)d, (long long)ceil[i]);
		}
	}
	backoff_free(b);
}

Test(backoff, jitter_spreads_over_the_whole_range)
{
	struct backoff *b = backoff_new(100, 1000, 7);
	int buckets[10] = { 0 };

	/* Many clients at their cap: the delays must fill [0, cap], not
	 * cluster, or a reconnect storm arrives at once. */
	for (int i = 0; i < 10000; i++) {
		int64_t d;

		backoff_reset(b);
		for (int k = 0; k < 5; k++)
			backoff_next(b);
		d = backoff_next(b); /* the 6th: ceiling is the cap */
		buckets[d * 10 / 1001]++;
	}
	for (int k = 0; k < 10; k++)
		cr_assert(buckets[k] > 800 && buckets[k] < 1200, "bucket %d has %d of 10000", k,
		    buckets[k]);
	backoff_free(b);
}

Test(backoff, reset_starts_from_base)
{
	struct backoff *b = backoff_new(50, 5000, 3);

	for (int i = 0; i < 20; i++)
		backoff_next(b);
	cr_assert_eq(backoff_attempts(b), 20);
	backoff_reset(b);
	cr_assert_eq(backoff_attempts(b), 0);
	for (int i = 0; i < 1000; i++) {
		backoff_reset(b);
		cr_assert_leq(backoff_next(b), 50);
	}
	backoff_free(b);
}

Test(backoff, cap_below_base_and_huge_attempts)
{
	struct backoff *b = backoff_new(500, 100, 9);

	for (int i = 0; i < 100; i++)
		cr_assert_leq(backoff_next(b), 500, "cap is raised to base");
	backoff_free(b);
	b = backoff_new(1, INT64_C(1) << 40, 11);
	for (int i = 0; i < 200; i++)
		cr_assert_geq(backoff_next(b), 0, "no overflow after many doublings");
	backoff_free(b);
}

Test(backoff, same_seed_same_sequence)
{
	struct backoff *a = backoff_new(100, 10000, 1234), *b = backoff_new(100, 10000, 1234);

	for (int i = 0; i < 50; i++)
		cr_assert_eq(backoff_next(a), backoff_next(b));
	backoff_free(a);
	backoff_free(b);
}
