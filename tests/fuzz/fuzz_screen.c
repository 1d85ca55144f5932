/* Fuzzes the terminal emulator and its redraw, replayed into a fresh screen. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <event2/buffer.h>

#include "screen.h"
#include "screen_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant that only a bug breaks: stop with the line that failed. */
#define FZ_CHECK(x) do {                                                    \
	if (!(x)) {                                                         \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
		abort();                                                    \
	}                                                                   \
} while (0)

#define FZ_ROWS 60
#define FZ_COLS 200

/* The next number of the input's own sequence (chunk sizes, new size). */
static uint32_t
fz_rng(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* A chunk size: mostly a few bytes, to cut sequences and UTF-8
 * characters anywhere; sometimes large. */
static size_t
fz_chunk(uint32_t *state)
{
	uint32_t r = fz_rng(state);

	if (r % 8 == 0)
		return 1 + r / 8 % 4096;
	return 1 + r / 8 % 7;
}

/* The redraw of s, in a new buffer. */
static struct evbuffer *
fz_dump(const struct screen *s)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		abort();
	FZ_CHECK(screen_dump(s, b) == 0);
	return b;
}

/* A fresh screen of s's size, shown the redraw d, as a client would be. */
static struct screen *
fz_replay(const struct screen *s, struct evbuffer *d)
{
	struct screen *n = screen_new(s->rows, s->cols);

	screen_feed(n, evbuffer_pullup(d, -1), evbuffer_get_length(d));
	return n;
}

/* 1 if a grid of s holds a wide character kept as a narrow cell: one that
 * had no room for its second half (a screen 1 column wide, or libvterm's
 * REP, which repeats a wide glyph into the last column). */
static int
fz_cut_wide(const struct screen *s)
{
	for (int g = 0; g < 2; g++) {
		if (s->grid[g].rows == NULL)
			continue;
		for (int r = 0; r < s->rows; r++) {
			for (int c = 0; c < s->cols; c++) {
				uint32_t ch = s->grid[g].rows[r]->cells[c].ch;

				if ((ch & CELL_KIND) == 0 && (ch & CELL_CP) >= 0x1100 &&
				    wcwidth((wchar_t)(ch & CELL_CP)) == 2)
					return 1;
			}
		}
	}
	return 0;
}

/* Two redraws are the same bytes. */
static int
fz_same(struct evbuffer *a, struct evbuffer *b)
{
	size_t n = evbuffer_get_length(a);

	return n == evbuffer_get_length(b) &&
	    memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0;
}

/*
 * Input: rows (1-60), columns (1-200), the seed of the chunk sizes, and
 * where to resize (0: never; else after (n & 15) / 16 of the output, to a
 * size from the seed's sequence); then the output.
 *
 * The invariant is the one tests/unit/test_screen.c holds the recordings
 * to: A's redraw fed to a fresh screen B redraws byte for byte the same,
 * except where the redraw cannot reproduce A (screen_dump.c says what):
 * a cursor libvterm put where no cursor movement reaches, or a saved
 * cursor left off the screen by a resize, which the redraw saves at the
 * nearest place. Nor where a wide character had no room for its second
 * half and is kept as a narrow one (fz_cut_wide): its redraw takes two
 * columns, or wraps. B is a state a redraw reaches, so B's redraw fed to
 * a fresh C redraws the same unless B has such a character too.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct screen *a, *b, *c;
	struct evbuffer *da, *db, *dc;
	uint32_t rng;
	size_t off = 4, at, n;

	if (size < 4)
		return 0;
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		abort();
	a = screen_new(1 + data[0] % FZ_ROWS, 1 + data[1] % FZ_COLS);
	rng = data[2];
	at = data[3] == 0 ? SIZE_MAX : off + (size - off) * (data[3] & 15) / 16;
	for (;;) {
		if (off == at)
			screen_resize(a, 1 + fz_rng(&rng) % FZ_ROWS, 1 + fz_rng(&rng) % FZ_COLS);
		if (off == size)
			break;
		n = fz_chunk(&rng);
		if (off < at && n > at - off)
			n = at - off;
		if (n > size - off)
			n = size - off;
		screen_feed(a, data + off, n);
		off += n;
	}
	FZ_CHECK(screen_memory(a) > 0);

	da = fz_dump(a);
	b = fz_replay(a, da);
	db = fz_dump(b);
	if (!fz_cut_wide(a) && screen_reachable(a) && (!a->saved.valid ||
	    (a->saved.row < a->rows && a->saved.col < a->cols)))
		FZ_CHECK(fz_same(da, db));
	c = fz_replay(b, db);
	dc = fz_dump(c);
	FZ_CHECK(fz_cut_wide(b) || fz_same(db, dc));

	evbuffer_free(da);
	evbuffer_free(db);
	evbuffer_free(dc);
	screen_free(a);
	screen_free(b);
	screen_free(c);
	return 0;
}
