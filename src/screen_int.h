/* Private to src/screen*.c and tests/unit/test_screen.c: the cell store,
 * the state tracked beside libvterm, and how the three files call each
 * other. */
#ifndef PERSH_SCREEN_INT_H
#define PERSH_SCREEN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <vterm.h>

#include "screen.h"

/*
 * A cell is 12 bytes. ch holds the codepoint (0: erased, never written),
 * what kind of cell it is and the boolean attributes; fg and bg hold a
 * colour each, fg also the font and DECSCA protection. A pen is a cell
 * whose ch has only attribute bits.
 */
struct cell {
	uint32_t ch;
	uint32_t fg;
	uint32_t bg;
};

#define CELL_CP		0x001fffffu
#define CELL_COMB	0x00200000u	/* more codepoints in the row's side table */
#define CELL_KIND	0x00c00000u
#define CELL_WIDE	0x00400000u	/* first half of a two-column character */
#define CELL_CONT	0x00800000u	/* second half: draws nothing itself */
#define CELL_ZERO	0x00c00000u	/* a zero-width glyph libvterm placed alone */
#define ATTR_BOLD	0x01000000u
#define ATTR_UL_SHIFT	25		/* 2 bits: VTERM_UNDERLINE_* */
#define ATTR_UL		0x06000000u
#define ATTR_ITALIC	0x08000000u
#define ATTR_BLINK	0x10000000u
#define ATTR_REVERSE	0x20000000u
#define ATTR_CONCEAL	0x40000000u	/* SGR 8: libvterm 0.1.4 ignores it, we track it */
#define ATTR_STRIKE	0x80000000u
#define ATTR_MASK	0xff000000u

#define COL_VALUE	0x00ffffffu	/* palette index, or 0xRRGGBB */
#define COL_TYPE	0x03000000u
#define COL_DEFAULT	0x00000000u
#define COL_INDEXED	0x01000000u
#define COL_RGB		0x02000000u
#define COL_FONT_SHIFT	26		/* fg only: SGR 10-19 */
#define COL_FONT	0x3c000000u
#define COL_PROT	0x40000000u	/* fg only: DECSCA protected */

/* libvterm keeps at most this many codepoints per cell: a base and 5. */
#define SCREEN_MAX_COMB	5

struct comb {
	uint16_t col;
	uint32_t ch[SCREEN_MAX_COMB];	/* zero-terminated when fewer */
};

struct row {
	struct cell *cells;
	struct comb *comb;	/* unordered; only for cells with CELL_COMB */
	uint16_t ncomb;
	uint16_t combcap;
};

/* One screen's rows: the pointers are rotated to scroll. */
struct grid {
	struct row **rows;
	struct row *rowmem;
	struct cell *cellmem;
};

/* What the application asked of its terminal that libvterm does not tell. */
struct modes {
	uint8_t decckm, keypad, decscnm, decom, decawm, irm, lnm, declrmm;
	uint8_t focus, paste, mouse_utf8, mouse_sgr, mouse_urxvt, prot;
	uint8_t cursor_visible;
	uint8_t cursor_style;		/* DECSCUSR parameter, 0 = default */
	int8_t cursor_blink;		/* ?12 after the last DECSCUSR, -1 if none */
	uint8_t gl;			/* invoked into GL: G0-G3 */
	char g[4];			/* designated: 'B' ASCII, '0' DEC, 'A' UK; 0 none */
	uint16_t mouse;			/* 0, or the mode that is on: 9, 1000, 1002, 1003 */
	uint16_t altmode;		/* how the alternate screen was entered: 1047 or 1049 */
	int32_t top, bottom;		/* as libvterm keeps them: bottom -1 for none */
	int32_t left, right;		/* right -1 for none; used only with declrmm */
};

/* DECSC's slot (and 1048/1049's, which libvterm shares with it). */
struct saved {
	uint8_t valid;
	uint16_t row, col;
	struct cell pen;
};

#define SCAN_ARGS	16	/* libvterm 0.1.4 crashes on a CSI with more */
#define SCAN_OSC	512	/* longest title kept */
#define SCAN_PEND	256	/* longest unfinished sequence a redraw repeats */

/* The scanner's copy of libvterm's parser state. */
struct scan {
	uint8_t state;
	uint8_t str;		/* the string is an OSC, not a DCS */
	uint8_t skip;		/* keeping excess CSI arguments from libvterm */
	uint8_t oscover;	/* the OSC string was longer than osc[] */
	uint8_t nleader, ninter;
	char leader, inter;
	uint8_t argi;
	long args[SCAN_ARGS];
	uint16_t osclen;
	char osc[SCAN_OSC];
	/* The unfinished sequence at the end of what was fed (controls left
	 * out: they acted already), or in the ground state the start of a
	 * cut UTF-8 character, held back from libvterm until it is whole: for
	 * a redraw to end with, so that what follows still completes it. */
	uint16_t npend;
	uint8_t pendover;
	uint8_t pend[SCAN_PEND];
};

struct screen {
	VTerm *vt;
	VTermState *vts;
	uint16_t rows, cols;
	struct grid grid[2];	/* primary; alternate (NULL rows while unused) */
	int alt;
	struct cell pen;
	/* libvterm's pending wrap after a glyph reached the right edge */
	uint8_t phantom;
	int prow, pcol;
	int cwidth;		/* libvterm's combine_width: REP repeats it */
	uint8_t flood;		/* a glyph is gathering endless combining marks */
	struct modes m;
	struct saved saved;
	uint8_t *tabs;
	char *title, *icon;
	struct scan sc;
	const uint8_t *fed;	/* in the chunk being scanned, bytes before this went to libvterm */
	void (*reply_cb)(const uint8_t *, size_t, void *);
	void *reply_arg;
	size_t vtmem;		/* bytes libvterm holds, through our allocator */
};

/* screen.c */
void screen_flush(struct screen *s, const uint8_t *upto);
const struct comb *screen_comb(const struct row *r, int col);
void screen_cursor(const struct screen *s, int *row, int *col);
int screen_reachable(const struct screen *s);
int screen_phantom(const struct screen *s);

/* screen_scan.c */
void scan_init(struct screen *s);
void scan_reset_modes(struct screen *s);
void scan_feed(struct screen *s, const uint8_t *buf, size_t len);
void scan_resized(struct screen *s);

#endif
