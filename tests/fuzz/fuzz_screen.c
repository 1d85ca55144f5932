/* Fuzzes the terminal emulator and its redraw, replayed into a fresh screen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "screen.h"
#include "screen_int.h"
#include "fuzz.h"


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

/* What libvterm makes of cp: 1 narrow (or a narrow mark), 2 wide, 3 a
 * combining mark that makes its glyph wide (U+302A-U+302F...). Asked of a
 * terminal of its own, written "a" and cp, since the C library's tables
 * disagree with libvterm's; remembered (0: not asked yet). */
static int
fz_kind(uint32_t cp)
{
	static uint8_t known[0x110000 / 4];
	static VTerm *vt;
	uint8_t *k = &known[cp / 4], shift = (uint8_t)(cp % 4 * 2);
	VTermScreenCell cell;
	VTermPos pos, home = { 0, 0 };
	char buf[16];
	int n;

	if ((*k >> shift & 3) != 0)
		return *k >> shift & 3;
	if (vt == NULL) {
		if ((vt = vterm_new(1, 16)) == NULL)
			abort();
		vterm_set_utf8(vt, 1);
		vterm_screen_reset(vterm_obtain_screen(vt), 1);
	}
	if (cp < 0x800)
		n = snprintf(buf, sizeof buf, "\033[H\033[Ka%c%c", 0xc0 | cp >> 6, 0x80 | (cp & 0x3f));
	else if (cp < 0x10000)
		n = snprintf(buf, sizeof buf, "\033[H\033[Ka%c%c%c", 0xe0 | cp >> 12,
		    0x80 | (cp >> 6 & 0x3f), 0x80 | (cp & 0x3f));
	else
		n = snprintf(buf, sizeof buf, "\033[H\033[Ka%c%c%c%c", 0xf0 | cp >> 18,
		    0x80 | (cp >> 12 & 0x3f), 0x80 | (cp >> 6 & 0x3f), 0x80 | (cp & 0x3f));
	vterm_input_write(vt, buf, (size_t)n);
	vterm_state_get_cursorpos(vterm_obtain_state(vt), &pos);
	vterm_screen_get_cell(vterm_obtain_screen(vt), home, &cell);
	*k |= (uint8_t)((pos.col != 3 ? 1 : cell.chars[1] == cp ? 3 : 2) << shift);
	return *k >> shift & 3;
}

/* 1 if a grid of s holds a glyph whose width the redraw cannot give back:
 * a wide character kept narrow, with no room for its second half (a
 * screen 1 column wide, or libvterm's REP, which repeats a wide glyph
 * into the last column); or a mark that libvterm makes wide, measured one
 * way when it comes in the write of its base and another when it comes
 * later, or alone. */
static int
fz_odd_width(const struct screen *s)
{
	for (int g = 0; g < 2; g++) {
		if (s->grid[g].rows == NULL)
			continue;
		for (int r = 0; r < s->rows; r++) {
			const struct row *row = s->grid[g].rows[r];

			for (int c = 0; c < s->cols; c++) {
				uint32_t ch = row->cells[c].ch, cp = ch & CELL_CP;
				const struct comb *e;

				if (cp >= 0x80 && cp <= 0x10ffff && (fz_kind(cp) == 3 ||
				    ((ch & CELL_KIND) == 0 && fz_kind(cp) == 2)))
					return 1;
				if (!(ch & CELL_COMB) || (e = screen_comb(row, c)) == NULL)
					continue;
				for (int i = 0; i < SCREEN_MAX_COMB && e->ch[i] != 0; i++)
					if (e->ch[i] <= 0x10ffff && fz_kind(e->ch[i]) == 3)
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
 * nearest place. Nor where a glyph's width cannot be given back
 * (fz_odd_width): a wide character kept narrow, or a glyph with a wide
 * mark. B is a state a redraw reaches, so B's redraw fed to a fresh C
 * redraws the same unless B has such a glyph too.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct screen *a, *b, *c;
	struct evbuffer *da, *db, *dc;
	uint32_t rng;
	size_t off = 4, at, n;
	uint16_t rows;

	if (size < 4)
		return 0;
	a = screen_new(1 + data[0] % FZ_ROWS, 1 + data[1] % FZ_COLS);
	rng = data[2];
	at = data[3] == 0 ? SIZE_MAX : off + (size - off) * (data[3] & 15) / 16;
	for (;;) {
		if (off == at) {
			/* In this order with any compiler: rows, then columns. */
			rows = (uint16_t)(1 + fz_rng(&rng) % FZ_ROWS);
			screen_resize(a, rows, (uint16_t)(1 + fz_rng(&rng) % FZ_COLS));
		}
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
	if (!fz_odd_width(a) && screen_reachable(a) && (!a->saved.valid ||
	    (a->saved.row < a->rows && a->saved.col < a->cols)))
		FZ_CHECK(fz_same(da, db));
	c = fz_replay(b, db);
	dc = fz_dump(c);
	FZ_CHECK(fz_odd_width(b) || fz_same(db, dc));

	evbuffer_free(da);
	evbuffer_free(db);
	evbuffer_free(dc);
	screen_free(a);
	screen_free(b);
	screen_free(c);
	return 0;
}
