/* Session name validation and the fixed-width field helpers. */
#include <criterion/criterion.h>
#include <string.h>

#include "util.h"

static int
ok(const char *s)
{
	return name_valid(s, strlen(s));
}

Test(name, accepts_the_allowed_set)
{
	cr_assert(ok("main"));
	cr_assert(ok("a"));
	cr_assert(ok("work-2.dev_x"));
	cr_assert(ok("ABCxyz019"));
	cr_assert(ok(".hidden"));
	cr_assert(ok("-dash"));
}

Test(name, length_bounds)
{
	char s[66];

	memset(s, 'x', 64);
	s[64] = '\0';
	cr_assert(ok(s), "64 chars is the maximum");
	s[64] = 'x';
	s[65] = '\0';
	cr_assert_not(ok(s), "65 chars is too long");
	cr_assert_not(ok(""));
}

Test(name, refuses_everything_else)
{
	const char *bad[] = { "a/b", "a b", "tab\t", "new\nline", "semi;colon", "dollar$", "ü",
		"..", ".", "a\\b", "quote'", "star*" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_not(ok(bad[i]), "'%s' must be refused", bad[i]);
	cr_assert_not(name_valid("ab\0cd", 5), "embedded NUL");
}

Test(fields, big_endian_round_trip)
{
	uint8_t b[8];

	put16(b, 0xBEEF);
	cr_assert_eq(b[0], 0xBE);
	cr_assert_eq(get16(b), 0xBEEF);
	put32(b, 0xDEADBEEFu);
	cr_assert_eq(b[0], 0xDE);
	cr_assert_eq(get32(b), 0xDEADBEEFu);
	put64(b, 0x0123456789ABCDEFull);
	cr_assert_eq(b[0], 0x01);
	cr_assert_eq(b[7], 0xEF);
	cr_assert_eq(get64(b), 0x0123456789ABCDEFull);
	put64(b, UINT64_MAX);
	cr_assert_eq(get64(b), UINT64_MAX);
}
