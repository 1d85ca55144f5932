/* How fast a session's screen takes output: screen_feed against
 * libvterm's own VTermScreen (and its bare state layer, the ceiling) on
 * the same bytes, at 24x80, 50x200 and 100x300.
 *
 *     screen_speed [-n] [-m MB] [FILE]
 *
 * Without FILE it feeds MB (default 100) of generated `ls -l --color`
 * output: permissions, owners, sizes, dates, SGR-coloured names, CR LF.
 * -n measures the screen alone (for a profiler).
 * Everything is fed in 64 KB slices, as a session's ring would hand it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <vterm.h>

#include "screen.h"

#define SLICE 65536

static uint64_t seed = 88172645463325252ULL;

/* xorshift64: the same text every run. */
static uint32_t
rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (uint32_t)seed;
}

/* len bytes of ls -l --color lines. */
static char *
generate(size_t len)
{
	static const char *colours[] = { "", "\033[01;34m", "\033[01;32m", "\033[01;36m",
		"\033[40;33;01m", "\033[01;31m" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	char *buf = malloc(len + 512), name[64];
	size_t n = 0;

	if (buf == NULL)
		abort();
	while (n < len) {
		int c = (int)(rnd() % 6), nl = 3 + (int)(rnd() % 24);

		for (int i = 0; i < nl; i++)
			name[i] = "abcdefghijklmnopqrstuvwxyz0123456789-_."[rnd() % 39];
		name[nl] = '\0';
		n += (size_t)sprintf(buf + n, "%srwxr-xr-x %2u root root %9u %s %2u  20%02u %s%s%s\r\n",
		    c == 1 ? "d" : c == 3 ? "l" : "-", 1 + rnd() % 9, rnd() % 10000000,
		    months[rnd() % 12], 1 + rnd() % 28, 10 + rnd() % 14, colours[c], name,
		    c ? "\033[0m" : "");
	}
	return buf;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
noscroll(VTermRect rect, int down, int right, void *arg)
{
	(void)rect;
	(void)down;
	(void)right;
	(void)arg;
	return 1;
}

/* MB/s for one way of feeding. */
static double
run(int kind, int rows, int cols, const char *buf, size_t len)
{
	static const VTermStateCallbacks bare = { .scrollrect = noscroll };
	struct screen *s = NULL;
	VTerm *vt = NULL;
	double t;

	if (kind == 0)
		s = screen_new((uint16_t)rows, (uint16_t)cols);
	else {
		vt = vterm_new(rows, cols);
		vterm_set_utf8(vt, 1);
		if (kind == 1)
			vterm_screen_reset(vterm_obtain_screen(vt), 1);
		else {
			VTermState *st = vterm_obtain_state(vt);

			vterm_state_set_callbacks(st, &bare, NULL);
			vterm_state_reset(st, 1);
		}
	}
	t = now();
	for (size_t off = 0; off < len; off += SLICE) {
		size_t n = len - off < SLICE ? len - off : SLICE;

		if (s != NULL)
			screen_feed(s, (const uint8_t *)buf + off, n);
		else
			vterm_input_write(vt, buf + off, n);
	}
	t = now() - t;
	screen_free(s);
	if (vt != NULL)
		vterm_free(vt);
	return (double)len / (1 << 20) / t;
}

int
main(int argc, char **argv)
{
	static const int sizes[][2] = { { 24, 80 }, { 50, 200 }, { 100, 300 } };
	size_t mb = 100, len;
	char *buf;
	int ch, alone = 0;

	while ((ch = getopt(argc, argv, "m:n")) != -1) {
		if (ch == 'm')
			mb = (size_t)atol(optarg);
		else if (ch == 'n')
			alone = 1;
		else {
			fprintf(stderr, "usage: screen_speed [-n] [-m MB] [FILE]\n");
			return 2;
		}
	}
	if (optind < argc) {
		FILE *f = fopen(argv[optind], "rb");
		long n;

		if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0) {
			fprintf(stderr, "screen_speed: cannot read %s\n", argv[optind]);
			return 1;
		}
		rewind(f);
		len = (size_t)n;
		buf = malloc(len);
		if (buf == NULL || fread(buf, 1, len, f) != len)
			return 1;
		fclose(f);
	} else {
		len = mb << 20;
		buf = generate(len);
	}
	printf("%.1f MB, %s\n", (double)len / (1 << 20), optind < argc ? argv[optind] :
	    "generated ls -l --color");
	printf("%-9s %12s %12s %12s %8s\n", "size", "screen MB/s", "VTermScreen", "VTermState",
	    "ratio");
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int r = sizes[i][0], c = sizes[i][1];
		double ours = run(0, r, c, buf, len);
		double ref = alone ? 0 : run(1, r, c, buf, len);
		double state = alone ? 0 : run(2, r, c, buf, len);

		printf("%3dx%-5d %12.1f %12.1f %12.1f %7.1fx\n", r, c, ours, ref, state,
		    alone ? 0 : ours / ref);
	}
	free(buf);
	return 0;
}
