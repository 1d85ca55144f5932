/* Redraw: the bytes that make a freshly reset xterm-compatible terminal
 * of the same size show a screen and behave like it.
 *
 * The stream, in order:
 *  1. reset what could be left from before: DECSTR (a soft reset for the
 *     terminal; libvterm 0.1.4 ignores it), cursor hidden, primary screen,
 *     no margins, origin and insert modes off, autowrap off (so writing
 *     the last column never wraps or scrolls), G0 in GL, default pen,
 *     home, clear;
 *  2. what needs the cursor anywhere on a screen without double-width
 *     lines: DECSC's slot, tab stops, left/right margins set while DECLRMM
 *     is off (setting them takes DECLRMM, which clears double-width lines);
 *  3. the primary screen; if the alternate one is shown, the cursor and
 *     pen it saved (1049 restores them on leaving), the switch, a clear,
 *     and the alternate screen. Erased cells with a non-default pen are
 *     erased with that pen (ECH), so that they stay erased cells; others
 *     are written with the SGR changes they need, wide and combining
 *     characters whole, double-width lines marked first;
 *  4. margins, every tracked mode (one sequence each: libvterm 0.1.4
 *     applies only the first of a list), keypad, cursor style, title and
 *     icon name;
 *  5. the cursor, origin-relative under DECOM; if the application's last
 *     glyph left a pending wrap at the right edge, that glyph is written
 *     again with autowrap on, so that the next character wraps as it
 *     would have;
 *  6. insert mode, charsets (after all text, which needs G0 as it was),
 *     the pen and DECSCA the application set, and the cursor's visibility;
 *  7. the unfinished sequence or UTF-8 character output stopped in, if
 *     any, for the output that follows to complete.
 *
 * What cannot be reproduced: a cursor that libvterm let a line feed take
 * where no cursor movement reaches (out of the margins under DECOM, past
 * the half of a double-width line), a wide character cut by the end of a
 * double-width line, and a pending wrap on a glyph no longer at the edge.
 */
#include "screen_int.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct dump {
	const struct screen *s;
	uint8_t *p;
	size_t len, cap;
	int row, col;		/* where the terminal's cursor is; col -1: unknown */
	struct cell pen;	/* the terminal's pen; COL_PROT in fg for DECSCA */
};

/* Room for n more bytes. */
static void
d_reserve(struct dump *d, size_t n)
{
	uint8_t *p;

	if (d->len + n <= d->cap)
		return;
	d->cap = d->cap ? d->cap * 2 : 8192;
	while (d->cap < d->len + n)
		d->cap *= 2;
	p = xmalloc(d->cap);
	if (d->len)
		memcpy(p, d->p, d->len);
	free(d->p);
	d->p = p;
}

/* Append a string. */
static void
d_str(struct dump *d, const char *str)
{
	size_t n = strlen(str);

	d_reserve(d, n);
	memcpy(d->p + d->len, str, n);
	d->len += n;
}

/* Append formatted text. */
static void
d_fmt(struct dump *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	d_reserve(d, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)d->p + d->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	d->len += (size_t)n;
}

/* Append a codepoint in UTF-8. */
static void
d_utf8(struct dump *d, uint32_t cp)
{
	uint8_t *o;

	d_reserve(d, 4);
	o = d->p + d->len;
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		d->len += 1;
	} else if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		d->len += 2;
	} else if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		d->len += 3;
	} else {
		o[0] = (uint8_t)(0xf0 | cp >> 18);
		o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		o[3] = (uint8_t)(0x80 | (cp & 0x3f));
		d->len += 4;
	}
}

/* Move the terminal's cursor with as few bytes as we know how; never by a
 * line feed at the bottom, which would scroll. */
static void
d_goto(struct dump *d, int row, int col)
{
	if (d->row == row && d->col == col)
		return;
	if (row == d->row + 1 && row < d->s->rows) {
		/* Margins are off while drawing: this line feed never scrolls. */
		d_str(d, "\r\n");
		d->row = row;
		d->col = 0;
		if (col == 0)
			return;
	}
	if (d->row == row && d->col >= 0 && col > d->col) {
		if (col - d->col == 1)
			d_str(d, "\033[C");
		else
			d_fmt(d, "\033[%dC", col - d->col);
	} else if (row == 0 && col == 0)
		d_str(d, "\033[H");
	else if (col == 0)
		d_fmt(d, "\033[%dH", row + 1);
	else
		d_fmt(d, "\033[%d;%dH", row + 1, col + 1);
	d->row = row;
	d->col = col;
}

/* The SGR item for a colour, base 30 for the foreground and 40 behind;
 * items end in ',' so that a long list is cut only between them. */
static int
sgr_colour(char *o, uint32_t col, int base)
{
	uint32_t v = col & COL_VALUE;

	switch (col & COL_TYPE) {
	case COL_INDEXED:
		if (v < 8)
			return sprintf(o, "%u,", base + v);
		if (v < 16)
			return sprintf(o, "%u,", base + 60 + v - 8);
		return sprintf(o, "%d;5;%u,", base + 8, v);
	case COL_RGB:
		return sprintf(o, "%d;2;%u;%u;%u,", base + 8, v >> 16, v >> 8 & 0xff,
		    v & 0xff);
	default:
		return sprintf(o, "%d,", base + 9);
	}
}

/* The SGR items that take the pen from a to b. */
static int
sgr_items(char *o, struct cell a, struct cell b)
{
	static const struct {
		uint32_t bit;
		const char *on, *off;
	} flags[] = {
		{ ATTR_BOLD, "1,", "22," }, { ATTR_ITALIC, "3,", "23," },
		{ ATTR_BLINK, "5,", "25," }, { ATTR_REVERSE, "7,", "27," },
		{ ATTR_CONCEAL, "8,", "28," }, { ATTR_STRIKE, "9,", "29," },
	};
	static const char *ul[] = { "24,", "4,", "4:2,", "4:3," };
	int n = 0;

	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if ((a.ch ^ b.ch) & flags[i].bit)
			n += sprintf(o + n, "%s", (b.ch & flags[i].bit) ? flags[i].on : flags[i].off);
	if ((a.ch ^ b.ch) & ATTR_UL)
		n += sprintf(o + n, "%s", ul[(b.ch & ATTR_UL) >> ATTR_UL_SHIFT]);
	if ((a.fg ^ b.fg) & COL_FONT)
		n += sprintf(o + n, "%u,", 10 + ((b.fg & COL_FONT) >> COL_FONT_SHIFT));
	if ((a.fg ^ b.fg) & (COL_TYPE | COL_VALUE))
		n += sgr_colour(o + n, b.fg, 30);
	if ((a.bg ^ b.bg) & (COL_TYPE | COL_VALUE))
		n += sgr_colour(o + n, b.bg, 40);
	return n;
}

/* Emit SGR items, at most 16 numbers to a sequence: libvterm 0.1.4
 * crashes on more (38;2;r;g;b is five, 4:3 two). */
static void
d_sgr(struct dump *d, const char *items)
{
	char seq[160];
	int len = 0, n = 0;

	for (const char *p = items; *p != '\0';) {
		const char *e = strchr(p, ',');
		int k = 1;

		for (const char *q = p; q < e; q++)
			k += *q == ';' || *q == ':';
		if (n + k > SCAN_ARGS) {
			d_fmt(d, "\033[%.*sm", len, seq);
			len = n = 0;
		}
		len += sprintf(seq + len, "%s%.*s", len ? ";" : "", (int)(e - p), p);
		n += k;
		p = e + 1;
	}
	if (len > 0)
		d_fmt(d, "\033[%.*sm", len, seq);
}

/* Give the terminal pen p (its attributes, colours, font, protection),
 * by the shorter of a change from the current pen or a reset and set. */
static void
d_pen(struct dump *d, struct cell p)
{
	struct cell cur = d->pen, zero = { 0, 0, 0 };
	char diff[128], full[128];
	int nd, nf;

	p.ch &= ATTR_MASK;
	if ((cur.fg ^ p.fg) & COL_PROT)
		d_str(d, (p.fg & COL_PROT) ? "\033[1\"q" : "\033[0\"q");
	cur.fg &= ~COL_PROT;
	d->pen = p;
	p.fg &= ~COL_PROT;
	if (cur.ch == p.ch && cur.fg == p.fg && cur.bg == p.bg)
		return;
	nd = sgr_items(diff, cur, p);
	nf = sgr_items(full + 2, zero, p);
	if (nf == 0)
		d_str(d, "\033[m");
	else if (nd <= nf + 2)
		d_sgr(d, diff);
	else {
		memcpy(full, "0,", 2);
		d_sgr(d, full);
	}
}

/* Write the glyph of a cell (the terminal's cursor is on it). */
static void
d_glyph(struct dump *d, const struct row *r, int col, int row, int width)
{
	const struct cell *c = &r->cells[col];
	uint32_t kind = c->ch & CELL_KIND;
	int w = kind == CELL_WIDE ? 2 : 1;

	d_pen(d, *c);
	if (kind == CELL_ZERO) {
		/* A mark libvterm placed alone: written after a glyph it would
		 * combine with it, so put a space first and come back. */
		d_str(d, " ");
		d->col = -1;
		d_goto(d, row, col);
	}
	d_utf8(d, c->ch & CELL_CP);
	if (c->ch & CELL_COMB) {
		const struct comb *e = screen_comb(r, col);

		for (int i = 0; e != NULL && i < SCREEN_MAX_COMB && e->ch[i]; i++)
			d_utf8(d, e->ch[i]);
	}
	/* At the right edge the cursor stays put in xterm, but libvterm
	 * keeps it on a wide glyph's first half: ask again next time. So
	 * after a wide glyph with combining marks: libvterm 0.1.4 moves past
	 * each wide mark (U+302A...) by two more columns. */
	if (kind == CELL_ZERO || col + w >= width || (w == 2 && (c->ch & CELL_COMB)))
		d->col = -1;
	else
		d->col = col + w;
}

/* 1 if two erased cells have one pen. */
static int
same_blank(const struct cell *a, const struct cell *b)
{
	return (a->ch & (CELL_CP | CELL_KIND)) == 0 && a->ch == b->ch &&
	    a->fg == b->fg && a->bg == b->bg;
}

/* Draw a grid on a cleared screen; lineinfo is libvterm's, which knows
 * only the screen shown. */
static void
d_grid(struct dump *d, const struct grid *g, int shown)
{
	const struct screen *s = d->s;

	for (int r = 0; r < s->rows; r++) {
		const struct row *row = g->rows[r];
		int width = s->cols, c = 0, e, w;

		if (shown) {
			const VTermLineInfo *li = vterm_state_get_lineinfo(s->vts, r);

			if (li->doublewidth || li->doubleheight) {
				d_goto(d, r, 0);
				d_str(d, li->doubleheight == 1 ? "\033#3" :
				    li->doubleheight == 2 ? "\033#4" : "\033#6");
				width = s->cols / 2;
			}
		}
		while (c < width) {
			const struct cell *cl = &row->cells[c];

			if ((cl->ch & CELL_KIND) == CELL_CONT) {
				c++;
				continue;
			}
			if ((cl->ch & CELL_CP) == 0) {
				for (e = c + 1; e < width && same_blank(&row->cells[e], cl); e++)
					;
				if ((cl->ch & ATTR_MASK) != 0 || cl->fg != 0 || cl->bg != 0) {
					d_goto(d, r, c);
					d_pen(d, *cl);
					if (e - c == 1)
						d_str(d, "\033[X");
					else
						d_fmt(d, "\033[%dX", e - c);
				}
				c = e;
				continue;
			}
			w = (cl->ch & CELL_KIND) == CELL_WIDE ? 2 : 1;
			if (c + w > width) {
				/* Half of it past a double-width line's end, where
				 * libvterm would not put it back. */
				c++;
				continue;
			}
			d_goto(d, r, c);
			d_glyph(d, row, c, r, width);
			c += w;
		}
	}
}

/* Set or reset a DEC private mode. */
static void
d_mode(struct dump *d, int mode, int on)
{
	d_fmt(d, "\033[?%d%c", mode, on ? 'h' : 'l');
}

/* Set the title (2), icon name (1) or both (0). */
static void
d_osc(struct dump *d, int which, const char *text)
{
	d_fmt(d, "\033]%d;", which);
	d_str(d, text);
	d_str(d, "\a");
}

/* DECSLRM (CSI s is a margin only under DECLRMM in xterm); it homes the
 * cursor. */
static void
d_lrm(struct dump *d)
{
	const struct modes *m = &d->s->m;

	if (m->left == 0 && m->right == -1)
		return;
	/* libvterm keeps a margin at the edge when asked for one past it:
	 * so do we. */
	if (m->right == -1)
		d_fmt(d, "\033[%ds", m->left + 1);
	else
		d_fmt(d, "\033[%d;%ds", m->left + 1,
		    m->left == 0 && m->right == d->s->cols ? m->right + 1 : m->right);
	d->row = d->col = 0;
}

/* 1 if the tab stops are libvterm's defaults, every 8 columns. */
static int
tabs_default(const struct screen *s)
{
	for (int c = 0; c < s->cols; c++)
		if (s->tabs[c] != (c % 8 == 0))
			return 0;
	return 1;
}

/* Append the redraw to out. */
int
screen_dump(const struct screen *s, struct evbuffer *out)
{
	struct dump d = { .s = s };
	const struct modes *m = &s->m;
	struct cell pen;
	int row, col, rc;

	d_str(&d, "\033[!p\033[?25l\033[?1047l\033[?69l\033[r\033[?6l\033[4l\033[?7l"
	    "\017\033[m\033[H\033[2J");
	/* DECSC's slot and tab stops need the cursor anywhere: before any
	 * line is double-width, where columns halve. Entering the alternate
	 * screen by 1049 saves the slot itself. */
	if (s->saved.valid && !(s->alt && m->altmode == 1049)) {
		d_goto(&d, s->saved.row, s->saved.col);
		d_pen(&d, s->saved.pen);
		d_str(&d, "\0337");
	}
	if (!tabs_default(s)) {
		d_str(&d, "\033[3g");
		for (col = 0; col < s->cols; col++) {
			if (s->tabs[col]) {
				d_goto(&d, 0, col);
				d_str(&d, "\033H");
			}
		}
	}
	if (!m->declrmm && (m->left != 0 || m->right != -1)) {
		/* Margins set with DECLRMM off wait for it. Setting them takes
		 * DECLRMM, which clears double-width lines: do it before. */
		d_mode(&d, 69, 1);
		d_lrm(&d);
		d_mode(&d, 69, 0);
	}
	if (s->alt) {
		d_grid(&d, &s->grid[0], 0);
		if (m->altmode == 1049 && s->saved.valid) {
			d_goto(&d, s->saved.row, s->saved.col);
			d_pen(&d, s->saved.pen);
		}
		d_mode(&d, m->altmode, 1);
		d_str(&d, "\033[m\033[H\033[2J");
		d.pen.ch = d.pen.bg = 0;
		d.pen.fg &= COL_PROT;	/* SGR 0 leaves DECSCA */
		d.row = d.col = 0;
		d_grid(&d, &s->grid[1], 1);
	} else
		d_grid(&d, &s->grid[0], 1);

	if (m->top != 0 || m->bottom != -1) {
		if (m->bottom == -1)
			d_fmt(&d, "\033[%dr", m->top + 1);
		else
			d_fmt(&d, "\033[%d;%dr", m->top + 1,
			    m->top == 0 && m->bottom == s->rows ? m->bottom + 1 : m->bottom);
	}
	if (m->declrmm) {
		d_mode(&d, 69, 1);
		d_lrm(&d);
	}
	d_mode(&d, 1, m->decckm);
	d_mode(&d, 5, m->decscnm);
	d_mode(&d, 6, m->decom);
	d_mode(&d, 7, m->decawm);
	d_mode(&d, m->mouse ? m->mouse : 1000, m->mouse != 0);
	d_mode(&d, 1004, m->focus);
	d_mode(&d, 1005, m->mouse_utf8);
	d_mode(&d, 1006, m->mouse_sgr);
	d_mode(&d, 1015, m->mouse_urxvt);
	d_mode(&d, 2004, m->paste);
	d_str(&d, m->keypad ? "\033=" : "\033>");
	d_str(&d, m->lnm ? "\033[20h" : "\033[20l");
	d_fmt(&d, "\033[%u q", m->cursor_style);
	if (m->cursor_blink >= 0)
		d_mode(&d, 12, m->cursor_blink);
	if (s->title != NULL && s->icon != NULL && strcmp(s->title, s->icon) == 0)
		d_osc(&d, 0, s->title);
	else {
		if (s->icon != NULL)
			d_osc(&d, 1, s->icon);
		if (s->title != NULL)
			d_osc(&d, 2, s->title);
	}

	/* The cursor, under DECOM relative to the margins' corner. */
	screen_cursor(s, &row, &col);
	rc = col;
	d.row = row;
	if (m->decom) {
		d.row = row - m->top >= 0 ? row - m->top : 0;
		rc = col - (m->declrmm ? m->left : 0);
		if (rc < 0)
			rc = 0;
	}
	d_fmt(&d, "\033[%d;%dH", d.row + 1, rc + 1);
	if (screen_phantom(s)) {
		d.col = rc;
		d_glyph(&d, s->grid[s->alt].rows[row], col, d.row, s->cols);
	}
	if (m->irm)
		d_str(&d, "\033[4h");
	for (int i = 0; i < 4; i++)
		if (m->g[i] != 0)
			d_fmt(&d, "\033%c%c", "()*+"[i], m->g[i]);
	if (m->gl == 1)
		d_str(&d, "\016");
	else if (m->gl > 1)
		d_str(&d, m->gl == 2 ? "\033n" : "\033o");
	pen = s->pen;
	if (m->prot)
		pen.fg |= COL_PROT;
	d_pen(&d, pen);
	if (m->cursor_visible)
		d_mode(&d, 25, 1);
	/* What output stopped in the middle of, so that the rest of it,
	 * which comes next, completes it. */
	if (s->sc.npend > 0 && !s->sc.pendover) {
		d_reserve(&d, s->sc.npend);
		memcpy(d.p + d.len, s->sc.pend, s->sc.npend);
		d.len += s->sc.npend;
	}

	rc = evbuffer_add(out, d.p, d.len);
	free(d.p);
	return rc == 0 ? 0 : -1;
}
