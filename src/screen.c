/* A session's headless screen: libvterm 0.1.4's parser and state layer,
 * drawing into a cell store of our own.
 *
 * VTermScreen moves every cell of the screen on each scroll; here a row is
 * a pointer, so a full-width scroll rotates rows[] and erases the rows it
 * uncovers. Partial-width scrolls (ICH, DCH, scrolling inside left/right
 * margins) copy cells, as they are rare. Combining characters live in a
 * small per-row side table, so a cell stays 12 bytes.
 *
 * The store mirrors what VTermScreen would hold (erased cells keep the
 * whole pen, new cells after a resize too), with one difference: a wide
 * character that loses one half loses the other, as in xterm, instead of
 * leaving half a glyph that no terminal could be told to draw. */
#include "screen_int.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* libvterm 0.1.4 keeps a stack array as long as one write: 4 MB crash it. */
#define FEED_MAX 65536

/* Combining marks on one glyph past which libvterm is kept from more. */
#define FLOOD 64

/* libvterm must have zeroed memory; the size in front lets us count it. */
#define VT_HDR 16

/* Allocation for libvterm, counted in the screen's memory. */
static void *
vt_malloc(size_t n, void *arg)
{
	struct screen *s = arg;
	size_t *p = xcalloc(1, n + VT_HDR);

	p[0] = n;
	s->vtmem += n;
	return (char *)p + VT_HDR;
}

/* Release for libvterm. */
static void
vt_free(void *ptr, void *arg)
{
	struct screen *s = arg;
	size_t *p;

	if (ptr == NULL)
		return;
	p = (size_t *)(void *)((char *)ptr - VT_HDR);
	s->vtmem -= p[0];
	free(p);
}

static VTermAllocatorFunctions vt_alloc = { vt_malloc, vt_free };

/* The side-table entry for the cell at col, or NULL. */
const struct comb *
screen_comb(const struct row *r, int col)
{
	for (uint16_t i = 0; i < r->ncomb; i++)
		if (r->comb[i].col == col)
			return &r->comb[i];
	return NULL;
}

/* Forget the combining characters of cols [c0, c1); an empty table is
 * freed, so that a screen's memory comes back to what it was. */
static void
comb_del(struct row *r, int c0, int c1)
{
	uint16_t i = 0;

	while (i < r->ncomb) {
		if (r->comb[i].col >= c0 && r->comb[i].col < c1)
			r->comb[i] = r->comb[--r->ncomb];
		else
			i++;
	}
	if (r->ncomb == 0 && r->comb != NULL) {
		free(r->comb);
		r->comb = NULL;
		r->combcap = 0;
	}
}

/* Give the cell at col these combining characters (at most
 * SCREEN_MAX_COMB, zero-terminated if fewer). */
static void
comb_set(struct row *r, int col, const uint32_t *chars)
{
	struct comb *e = (struct comb *)screen_comb(r, col);
	int i;

	if (e == NULL) {
		if (r->ncomb == r->combcap) {
			uint32_t cap = r->combcap ? r->combcap * 2u : 4;
			struct comb *n;

			if (cap > UINT16_MAX)
				cap = UINT16_MAX;
			n = xmalloc(cap * sizeof *n);
			if (r->ncomb)
				memcpy(n, r->comb, r->ncomb * sizeof *n);
			free(r->comb);
			r->comb = n;
			r->combcap = (uint16_t)cap;
		}
		e = &r->comb[r->ncomb++];
		e->col = (uint16_t)col;
	}
	memset(e->ch, 0, sizeof e->ch);
	for (i = 0; i < SCREEN_MAX_COMB && chars[i] != 0; i++)
		e->ch[i] = chars[i];
}

/* Erase one cell in place, keeping its colours: what is left of a wide
 * character whose other half was overwritten. */
static void
cell_blank(struct row *r, int col)
{
	struct cell *c = &r->cells[col];

	if (c->ch & CELL_COMB)
		comb_del(r, col, col + 1);
	c->ch &= ATTR_MASK;
	c->fg &= ~COL_PROT;
}

/* Cells [c0, c1) are about to be overwritten: drop their combining
 * characters and the halves of wide characters they cut. */
static inline void
row_claim(struct row *r, int cols, int c0, int c1)
{
	struct cell *c = r->cells;

	if (r->ncomb)
		comb_del(r, c0, c1);
	if (c0 > 0 && (c[c0].ch & CELL_KIND) == CELL_CONT)
		cell_blank(r, c0 - 1);
	if (c1 < cols && (c[c1].ch & CELL_KIND) == CELL_CONT)
		cell_blank(r, c1);
}

/* Blank any half of a wide character whose other half is gone, in cols
 * [c0, c1]. */
static void
row_fix(struct row *r, int cols, int c0, int c1)
{
	if (c0 < 0)
		c0 = 0;
	if (c1 > cols - 1)
		c1 = cols - 1;
	for (int c = c0; c <= c1; c++) {
		uint32_t k = r->cells[c].ch & CELL_KIND;

		if (k == CELL_WIDE && (c + 1 >= cols ||
		    (r->cells[c + 1].ch & CELL_KIND) != CELL_CONT))
			cell_blank(r, c);
		else if (k == CELL_CONT && (c == 0 ||
		    (r->cells[c - 1].ch & CELL_KIND) != CELL_WIDE))
			cell_blank(r, c);
	}
}

/* Erase cols [c0, c1) with the pen; selective (DECSED, DECSEL) spares
 * protected cells. */
static void
row_erase(struct screen *s, struct row *r, int c0, int c1, int selective)
{
	struct cell b = s->pen;

	if (!selective) {
		row_claim(r, s->cols, c0, c1);
		for (int c = c0; c < c1; c++)
			r->cells[c] = b;
		return;
	}
	for (int c = c0; c < c1; c++) {
		if (r->cells[c].fg & COL_PROT)
			continue;
		row_claim(r, s->cols, c, c + 1);
		r->cells[c] = b;
	}
}

/* Clip rect to the screen; 0 if nothing is left. */
static int
clip(const struct screen *s, VTermRect *rc)
{
	if (rc->start_row < 0)
		rc->start_row = 0;
	if (rc->start_col < 0)
		rc->start_col = 0;
	if (rc->end_row > s->rows)
		rc->end_row = s->rows;
	if (rc->end_col > s->cols)
		rc->end_col = s->cols;
	return rc->start_row < rc->end_row && rc->start_col < rc->end_col;
}

/* Erase a rectangle of the shown grid. */
static void
grid_erase(struct screen *s, struct grid *g, VTermRect rc, int selective)
{
	if (!clip(s, &rc))
		return;
	for (int r = rc.start_row; r < rc.end_row; r++)
		row_erase(s, g->rows[r], rc.start_col, rc.end_col, selective);
}

/* Reverse n row pointers. */
static void
reverse(struct row **r, int n)
{
	for (int i = 0, j = n - 1; i < j; i++, j--) {
		struct row *t = r[i];

		r[i] = r[j];
		r[j] = t;
	}
}

/* Rotate n row pointers so that r[i] becomes the old r[i + k]. */
static void
rotate(struct row **r, int n, int k)
{
	struct row *t;

	k %= n;
	if (k < 0)
		k += n;
	if (k == 0)
		return;
	if (k == 1) {
		/* One line at a time is what output scrolls by. */
		t = r[0];
		memmove(r, r + 1, (size_t)(n - 1) * sizeof *r);
		r[n - 1] = t;
		return;
	}
	reverse(r, k);
	reverse(r + k, n - k);
	reverse(r, n);
}

/* Copy n cells from src at scol to dst at dcol, combining characters
 * with them; dst may be src, overlapping. */
static void
move_cells(struct row *dst, int dcol, struct row *src, int scol, int n)
{
	struct comb *tmp = NULL;
	int ntmp = 0;

	if (src->ncomb) {
		tmp = xmalloc(src->ncomb * sizeof *tmp);
		for (uint16_t i = 0; i < src->ncomb; i++) {
			if (src->comb[i].col < scol || src->comb[i].col >= scol + n)
				continue;
			tmp[ntmp] = src->comb[i];
			tmp[ntmp++].col = (uint16_t)(src->comb[i].col + dcol - scol);
		}
	}
	if (dst->ncomb)
		comb_del(dst, dcol, dcol + n);
	memmove(dst->cells + dcol, src->cells + scol, (size_t)n * sizeof *dst->cells);
	for (int i = 0; i < ntmp; i++)
		comb_set(dst, tmp[i].col, tmp[i].ch);
	free(tmp);
}

/* libvterm's scroll of a rectangle: content moves up by down rows (down
 * if negative) and left by right columns; what it uncovers is erased. */
static void
grid_scroll(struct screen *s, struct grid *g, VTermRect rc, int down, int right)
{
	int height, width, r, n;

	if (!clip(s, &rc))
		return;
	height = rc.end_row - rc.start_row;
	width = rc.end_col - rc.start_col;
	if (abs(down) >= height || abs(right) >= width) {
		grid_erase(s, g, rc, 0);
		return;
	}
	if (right == 0 && rc.start_col == 0 && rc.end_col == s->cols) {
		rotate(g->rows + rc.start_row, height, down);
		r = down > 0 ? rc.end_row - down : rc.start_row;
		for (n = abs(down); n > 0; n--, r++)
			row_erase(s, g->rows[r], 0, s->cols, 0);
		return;
	}

	/* Part of the width: ICH, DCH, or lines inside left/right margins. */
	{
		int dcol = right >= 0 ? rc.start_col : rc.start_col - right;
		int scol = right >= 0 ? rc.start_col + right : rc.start_col;
		VTermRect ex = rc;

		n = width - abs(right);
		if (down >= 0)
			for (r = rc.start_row; r < rc.end_row - down; r++)
				move_cells(g->rows[r], dcol, g->rows[r + down], scol, n);
		else
			for (r = rc.end_row - 1; r >= rc.start_row - down; r--)
				move_cells(g->rows[r], dcol, g->rows[r + down], scol, n);
		if (down != 0) {
			ex = rc;
			if (down > 0)
				ex.start_row = rc.end_row - down;
			else
				ex.end_row = rc.start_row - down;
			grid_erase(s, g, ex, 0);
		}
		if (right != 0) {
			/* Next to cells just moved, whose old halves are stale:
			 * erase plainly, row_fix below mends wide characters. */
			int c0 = right > 0 ? rc.end_col - right : rc.start_col;
			int c1 = right > 0 ? rc.end_col : rc.start_col - right;

			for (r = rc.start_row; r < rc.end_row; r++) {
				struct row *rw = g->rows[r];

				if (rw->ncomb)
					comb_del(rw, c0, c1);
				for (int c = c0; c < c1; c++)
					rw->cells[c] = s->pen;
			}
		}
		for (r = rc.start_row; r < rc.end_row; r++)
			row_fix(g->rows[r], s->cols, rc.start_col - 1, rc.end_col);
	}
}

/* Give g rows x cols cells of pen p. */
static void
grid_alloc(struct grid *g, int rows, int cols, struct cell p)
{
	size_t n = (size_t)rows * (size_t)cols;

	g->cellmem = xmalloc(n * sizeof *g->cellmem);
	g->rowmem = xcalloc((size_t)rows, sizeof *g->rowmem);
	g->rows = xmalloc((size_t)rows * sizeof *g->rows);
	for (size_t i = 0; i < n; i++)
		g->cellmem[i] = p;
	for (int r = 0; r < rows; r++) {
		g->rowmem[r].cells = g->cellmem + (size_t)r * (size_t)cols;
		g->rows[r] = &g->rowmem[r];
	}
}

/* Release g's cells; g->rows is NULL after. */
static void
grid_free(struct grid *g, int rows)
{
	if (g->rows == NULL)
		return;
	for (int r = 0; r < rows; r++)
		free(g->rowmem[r].comb);
	free(g->rows);
	free(g->rowmem);
	free(g->cellmem);
	memset(g, 0, sizeof *g);
}

/* New size for a grid: keep the top-left part, pad with the pen. */
static void
grid_resize(struct screen *s, struct grid *g, int rows, int cols)
{
	struct grid n;
	int w = cols < s->cols ? cols : s->cols;

	grid_alloc(&n, rows, cols, s->pen);
	for (int r = 0; r < rows && r < s->rows; r++) {
		struct row *o = g->rows[r], *d = n.rows[r];

		memcpy(d->cells, o->cells, (size_t)w * sizeof *d->cells);
		d->comb = o->comb;
		d->ncomb = o->ncomb;
		d->combcap = o->combcap;
		o->comb = NULL;
		o->ncomb = o->combcap = 0;
		if (d->ncomb)
			comb_del(d, cols, INT32_MAX);
		row_fix(d, cols, cols - 1, cols - 1);
	}
	grid_free(g, s->rows);
	*g = n;
}

/* 1 if no cell of the row was ever written or all were erased. */
static int
row_blank(const struct screen *s, const struct row *r)
{
	for (int c = 0; c < s->cols; c++)
		if (r->cells[c].ch & CELL_CP)
			return 0;
	return 1;
}

/* libvterm's colour as our 26 bits. */
static uint32_t
colour(const VTermColor *c)
{
	if (c->type & VTERM_COLOR_DEFAULT_MASK)
		return COL_DEFAULT;
	if (VTERM_COLOR_IS_INDEXED(c))
		return COL_INDEXED | c->indexed.idx;
	return COL_RGB | (uint32_t)c->rgb.red << 16 | (uint32_t)c->rgb.green << 8 |
	    c->rgb.blue;
}

/* Set or clear bits of *w. */
static void
setbits(uint32_t *w, uint32_t bits, int on)
{
	*w = on ? (*w | bits) : (*w & ~bits);
}

/* A character at pos, with the pen. */
static int
cb_putglyph(VTermGlyphInfo *info, VTermPos pos, void *arg)
{
	struct screen *s = arg;
	struct row *r;
	struct cell *c;
	uint32_t kind = 0, cp;
	int n = 1, k, width;

	/* What REP repeats, and a glyph's marks, count wherever it went:
	 * also off the screen (column -1 of a double-width line 0 columns
	 * wide), where REP of a lone mark would loop forever. libvterm keeps
	 * all of a glyph's marks, however many, and adds the next write's:
	 * tell the scanner to stop that. */
	s->cwidth = info->width;
	for (k = 1; k < FLOOD && info->chars[0] != 0 && info->chars[k] != 0; k++)
		;
	if (k == FLOOD)
		s->flood = 1;
	if (pos.row < 0 || pos.row >= s->rows || pos.col < 0 || pos.col >= s->cols)
		return 1;
	if (info->width == 0)
		kind = CELL_ZERO;
	else if (info->width > 1 && pos.col + 1 < s->cols) {
		kind = CELL_WIDE;
		n = 2;
	}
	r = s->grid[s->alt].rows[pos.row];
	row_claim(r, s->cols, pos.col, pos.col + n);
	c = &r->cells[pos.col];
	/* libvterm 0.1.4 decodes 5- and 6-byte sequences, and 4-byte ones
	 * past U+10FFFF, to code points no terminal shows and a cell has no
	 * bits for: they are U+FFFD, one column wide as libvterm drew them. */
	cp = info->chars[0] > 0x10ffff ? 0xfffd : info->chars[0];
	c->ch = cp | kind | s->pen.ch;
	c->fg = s->pen.fg | (info->protected_cell ? COL_PROT : 0);
	c->bg = s->pen.bg;
	if (n == 2) {
		c[1] = c[0];
		c[1].ch = CELL_CONT | s->pen.ch;
	}
	if (info->chars[0] != 0 && info->chars[1] != 0) {
		comb_set(r, pos.col, info->chars + 1);
		c->ch |= CELL_COMB;
	}

	/* libvterm leaves the cursor on a glyph that reached the right edge
	 * and wraps before the next one: the dump must reproduce that. */
	width = info->dwl ? s->cols / 2 : s->cols;
	s->phantom = s->m.decawm && pos.col + info->width >= width;
	s->prow = pos.row;
	s->pcol = pos.col;
	return 1;
}

/* The cursor moved: that ends a pending wrap, unless it is the move that
 * ends the run of text which made it. */
static int
cb_movecursor(VTermPos pos, VTermPos old, int visible, void *arg)
{
	struct screen *s = arg;

	(void)old;
	(void)visible;
	if (s->phantom && (pos.row != s->prow || pos.col != s->pcol))
		s->phantom = 0;
	return 1;
}

/* Scroll a rectangle; returning 1 tells libvterm not to fall back to
 * moverect and erase. */
static int
cb_scrollrect(VTermRect rect, int down, int right, void *arg)
{
	struct screen *s = arg;

	grid_scroll(s, &s->grid[s->alt], rect, down, right);
	return 1;
}

/* Erase a rectangle. */
static int
cb_erase(VTermRect rect, int selective, void *arg)
{
	struct screen *s = arg;

	grid_erase(s, &s->grid[s->alt], rect, selective);
	return 1;
}

/* A reset (RIS): default pen, no pending wrap. */
static int
cb_initpen(void *arg)
{
	struct screen *s = arg;

	memset(&s->pen, 0, sizeof s->pen);
	s->phantom = 0;
	return 1;
}

/* One attribute of the pen changed. */
static int
cb_setpenattr(VTermAttr attr, VTermValue *val, void *arg)
{
	struct screen *s = arg;
	struct cell *p = &s->pen;

	switch (attr) {
	case VTERM_ATTR_BOLD:
		setbits(&p->ch, ATTR_BOLD, val->boolean);
		break;
	case VTERM_ATTR_UNDERLINE:
		p->ch = (p->ch & ~ATTR_UL) | ((uint32_t)val->number & 3) << ATTR_UL_SHIFT;
		break;
	case VTERM_ATTR_ITALIC:
		setbits(&p->ch, ATTR_ITALIC, val->boolean);
		break;
	case VTERM_ATTR_BLINK:
		setbits(&p->ch, ATTR_BLINK, val->boolean);
		break;
	case VTERM_ATTR_REVERSE:
		setbits(&p->ch, ATTR_REVERSE, val->boolean);
		break;
	case VTERM_ATTR_STRIKE:
		setbits(&p->ch, ATTR_STRIKE, val->boolean);
		break;
	case VTERM_ATTR_FONT:
		p->fg = (p->fg & ~COL_FONT) | ((uint32_t)val->number & 15) << COL_FONT_SHIFT;
		break;
	case VTERM_ATTR_FOREGROUND:
		p->fg = (p->fg & ~(COL_TYPE | COL_VALUE)) | colour(&val->color);
		break;
	case VTERM_ATTR_BACKGROUND:
		p->bg = colour(&val->color);
		break;
	default:
		break;
	}
	return 1;
}

/* Only the alternate screen switch matters here: the other properties
 * are taken from the bytes by the scanner, which sees every parameter
 * of a mode list where libvterm 0.1.4 sees the first. */
static int
cb_settermprop(VTermProp prop, VTermValue *val, void *arg)
{
	struct screen *s = arg;

	if (prop != VTERM_PROP_ALTSCREEN || !val->boolean == !s->alt)
		return 1;
	if (val->boolean) {
		/* libvterm erases it with the pen right after. */
		grid_alloc(&s->grid[1], s->rows, s->cols, s->pen);
		s->alt = 1;
	} else {
		s->alt = 0;
		grid_free(&s->grid[1], s->rows);
	}
	return 1;
}

/* New size, before libvterm moves the cursor by delta. Like VTermScreen,
 * a primary screen losing rows pushes lines off the top rather than lose
 * the lines written down to the cursor's. */
static int
cb_resize(int rows, int cols, VTermPos *delta, void *arg)
{
	struct screen *s = arg;
	struct grid *g = &s->grid[0];
	uint8_t *tabs;
	int row, col, r, up;

	screen_cursor(s, &row, &col);
	if (!s->alt && rows < s->rows) {
		for (r = s->rows - 1; r >= rows; r--)
			if (r == row || !row_blank(s, g->rows[r]))
				break;
		/* VTermScreen goes on pushing to the last line written even
		 * past the cursor's line, leaving libvterm a cursor above the
		 * screen: we stop at the cursor's line. */
		up = r + 1 - rows < row ? r + 1 - rows : row;
		if (up > 0) {
			VTermRect all = { 0, s->rows, 0, s->cols };

			grid_scroll(s, g, all, up, 0);
			delta->row -= up;
		}
	}
	grid_resize(s, &s->grid[0], rows, cols);
	if (s->grid[1].rows != NULL)
		grid_resize(s, &s->grid[1], rows, cols);

	/* libvterm keeps tab stops and margins, clipped. */
	tabs = xmalloc((size_t)cols);
	for (col = 0; col < cols; col++)
		tabs[col] = col < s->cols ? s->tabs[col] : col % 8 == 0;
	free(s->tabs);
	s->tabs = tabs;
	if (s->m.bottom > rows)
		s->m.bottom = rows;
	if (s->m.right > cols)
		s->m.right = cols;
	if (s->phantom && s->pcol < cols - 1)
		s->phantom = 0;
	s->rows = (uint16_t)rows;
	s->cols = (uint16_t)cols;
	return 1;
}

/* DECDWL, DECDHL: libvterm keeps a line's new kind only if we say yes.
 * A double-width line shows half its columns: as VTermScreen does, each
 * change to a double kind erases the other half. */
static int
cb_setlineinfo(int row, const VTermLineInfo *info, const VTermLineInfo *old, void *arg)
{
	struct screen *s = arg;

	if (info->doublewidth && (info->doublewidth != old->doublewidth ||
	    info->doubleheight != old->doubleheight) && row >= 0 && row < s->rows)
		row_erase(s, s->grid[s->alt].rows[row], s->cols / 2, s->cols, 0);
	return 1;
}

static const VTermStateCallbacks callbacks = {
	.putglyph = cb_putglyph,
	.movecursor = cb_movecursor,
	.scrollrect = cb_scrollrect,
	.erase = cb_erase,
	.initpen = cb_initpen,
	.setpenattr = cb_setpenattr,
	.settermprop = cb_settermprop,
	.resize = cb_resize,
	.setlineinfo = cb_setlineinfo,
};

/* libvterm's answers to the application's queries. */
static void
cb_output(const char *buf, size_t len, void *arg)
{
	struct screen *s = arg;

	if (s->reply_cb != NULL)
		s->reply_cb((const uint8_t *)buf, len, s->reply_arg);
}

/* A blank screen as a freshly reset terminal of that size has. */
struct screen *
screen_new(uint16_t rows, uint16_t cols)
{
	struct screen *s = xcalloc(1, sizeof *s);
	struct cell none = { 0, 0, 0 };

	s->rows = rows ? rows : 1;
	s->cols = cols ? cols : 1;
	grid_alloc(&s->grid[0], s->rows, s->cols, none);
	s->tabs = xmalloc(s->cols);
	scan_init(s);
	s->vt = vterm_new_with_allocator(s->rows, s->cols, &vt_alloc, s);
	if (s->vt == NULL)
		abort();
	vterm_set_utf8(s->vt, 1);
	vterm_output_set_callback(s->vt, cb_output, s);
	s->vts = vterm_obtain_state(s->vt);
	vterm_state_set_callbacks(s->vts, &callbacks, s);
	vterm_state_reset(s->vts, 1);
	return s;
}

/* Release everything. */
void
screen_free(struct screen *s)
{
	if (s == NULL)
		return;
	vterm_free(s->vt);
	grid_free(&s->grid[0], s->rows);
	grid_free(&s->grid[1], s->rows);
	free(s->tabs);
	free(s->title);
	free(s->icon);
	free(s);
}

/* Interpret output, in slices libvterm can take. */
void
screen_feed(struct screen *s, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t n = len < FEED_MAX ? len : FEED_MAX;

		scan_feed(s, buf, n);
		buf += n;
		len -= n;
	}
}

/* Hand libvterm the scanned bytes up to upto, and a NUL, which it skips.
 * libvterm 0.1.4 decodes text into an array as long as what is left of
 * the write; a UTF-8 sequence left unfinished before a control makes one
 * more code point (U+FFFD) of the text after it, written past the array
 * when that text ends the write. The NUL is room for it. */
void
screen_flush(struct screen *s, const uint8_t *upto)
{
	uint8_t small[4096], *buf;
	size_t n;

	if (upto <= s->fed)
		return;
	n = (size_t)(upto - s->fed);
	buf = n < sizeof small ? small : xmalloc(n + 1);
	memcpy(buf, s->fed, n);
	buf[n] = '\0';
	vterm_input_write(s->vt, (const char *)buf, n + 1);
	if (buf != small)
		free(buf);
	s->fed = upto;
}

/* libvterm's cursor. */
void
screen_cursor(const struct screen *s, int *row, int *col)
{
	VTermPos pos;

	vterm_state_get_cursorpos(s->vts, &pos);
	*row = pos.row;
	*col = pos.col;
}

/* 1 if a cursor movement can take a terminal to libvterm's cursor; a line
 * feed can leave it where none does: out of the margins under DECOM, past
 * the half of a double-width line. */
int
screen_reachable(const struct screen *s)
{
	const struct modes *m = &s->m;
	int row, col;

	screen_cursor(s, &row, &col);
	if (row < 0 || row >= s->rows || col < 0 || col >= s->cols)
		return 0;
	if (!m->decom)
		return col < s->cols / 2 || !vterm_state_get_lineinfo(s->vts, row)->doublewidth;
	if (row < m->top || row >= (m->bottom == -1 ? s->rows : m->bottom))
		return 0;
	return !m->declrmm || (col >= m->left && col < (m->right == -1 ? s->cols : m->right));
}

/* 1 if libvterm's pending wrap is one a redraw can make: the cursor, where
 * a redraw can put it, on a glyph reaching the right edge (of a line that
 * did not change width since), autowrap on. */
int
screen_phantom(const struct screen *s)
{
	const struct cell *c;
	int row, col, w;

	screen_cursor(s, &row, &col);
	if (!s->phantom || !s->m.decawm || row != s->prow || col != s->pcol ||
	    !screen_reachable(s))
		return 0;
	c = &s->grid[s->alt].rows[row]->cells[col];
	if ((c->ch & CELL_CP) == 0 || (c->ch & CELL_KIND) == CELL_CONT ||
	    (c->ch & CELL_KIND) == CELL_ZERO)
		return 0;
	/* Exactly at the edge: one that overflows a narrow line would wrap
	 * when written again. */
	w = (c->ch & CELL_KIND) == CELL_WIDE ? 2 : 1;
	if (vterm_state_get_lineinfo(s->vts, row)->doublewidth)
		return col + w == s->cols / 2;
	return col + w == s->cols;
}

/* The terminal changed size. */
void
screen_resize(struct screen *s, uint16_t rows, uint16_t cols)
{
	if (rows == 0)
		rows = 1;
	if (cols == 0)
		cols = 1;
	if (rows != s->rows || cols != s->cols) {
		vterm_set_size(s->vt, rows, cols);
		scan_resized(s);
	}
}

/* Bytes allocated for this screen. */
size_t
screen_memory(const struct screen *s)
{
	size_t n = sizeof *s + s->vtmem + s->cols;

	for (int i = 0; i < 2; i++) {
		const struct grid *g = &s->grid[i];

		if (g->rows == NULL)
			continue;
		n += (size_t)s->rows * (sizeof *g->rows + sizeof *g->rowmem +
		    (size_t)s->cols * sizeof *g->cellmem);
		for (int r = 0; r < s->rows; r++)
			n += g->rowmem[r].combcap * sizeof(struct comb);
	}
	if (s->title != NULL)
		n += strlen(s->title) + 1;
	if (s->icon != NULL)
		n += strlen(s->icon) + 1;
	return n;
}

/* Where query answers go. */
void
screen_set_reply_cb(struct screen *s, void (*cb)(const uint8_t *, size_t, void *),
    void *arg)
{
	s->reply_cb = cb;
	s->reply_arg = arg;
}
