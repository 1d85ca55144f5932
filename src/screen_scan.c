/* What libvterm 0.1.4 reads but does not tell: a scanner that walks the
 * same bytes with a copy of libvterm's parser states and keeps what a
 * redraw needs.
 *
 * libvterm keeps modes, margins, keypad mode, charsets and the saved
 * cursor to itself; it applies only the first mode of "CSI ? 1000;1006 h",
 * ignores DECSTR and loses a title split across two writes. So the
 * scanner tracks these from the bytes. Where the state is what the client
 * terminal needs after a redraw (mouse, keys, paste, cursor, title) it
 * follows xterm; where it shapes the cells libvterm draws (autowrap,
 * origin, insert, margins, alternate screen) it follows libvterm, so that
 * the store and its redraw agree.
 *
 * It also keeps libvterm 0.1.4 alive on what any program may print: a CSI
 * with more than 16 parameters (crash), REP with nothing to repeat
 * (endless loop), a string terminator parted from its ESC (read past the
 * input), a status request (DECRQSS) for a setting it does not know (a
 * bad format string), a C1 control in UTF-8 (a glyph of width -1 that
 * moves the cursor back, even off the line), tab stops set or cleared at
 * column -1 (write before its table), and after a resize, margins turned
 * inside out (crash on the next scroll) or a saved cursor off the screen
 * (writes past its line table).
 *
 * Bytes reach libvterm in runs: a sequence whose effect depends on
 * libvterm's state (the cursor for DECSC and tab stops, the pen for SGR 8)
 * or changes what our callbacks do (autowrap, pending wrap) first flushes
 * everything up to its end into libvterm, then acts. */
#include "screen_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum {
	S_GROUND,
	S_ESC,
	S_CSI_LEADER,
	S_CSI_ARGS,
	S_CSI_INTER,
	S_STR,		/* OSC or DCS payload */
	S_STR_ESC,	/* ESC inside one: ST, or the string is dropped */
};

/* In the ground state only ESC, the charset shifts and the first byte of
 * a C1 control in UTF-8 matter. */
static const uint8_t ground_special[256] = {
	[0x0e] = 1, [0x0f] = 1, [0x1b] = 1, [0xc2] = 1,
};

/* A new screen's scanner. */
void
scan_init(struct screen *s)
{
	memset(&s->sc, 0, sizeof s->sc);
	memset(&s->saved, 0, sizeof s->saved);
	s->m.altmode = 1049;
	scan_reset_modes(s);
}

/* What RIS leaves, as libvterm's hard reset and xterm do; the title and
 * DECSC's slot survive it in libvterm. */
void
scan_reset_modes(struct screen *s)
{
	struct modes *m = &s->m;
	uint16_t altmode = m->altmode;

	memset(m, 0, sizeof *m);
	m->decawm = 1;
	m->cursor_visible = 1;
	m->cursor_blink = -1;
	m->bottom = -1;
	m->right = -1;
	m->altmode = altmode;
	for (int c = 0; c < s->cols; c++)
		s->tabs[c] = c % 8 == 0;
}

/* Keep the byte at p from libvterm. */
static void
skip_byte(struct screen *s, const uint8_t *p)
{
	screen_flush(s, p);
	s->fed = p + 1;
}

/* DECSC, ?1048h, ?1049h: libvterm has just saved its cursor and pen. */
static void
save_cursor(struct screen *s)
{
	int row, col;

	screen_cursor(s, &row, &col);
	s->saved.valid = 1;
	s->saved.row = (uint16_t)row;
	s->saved.col = (uint16_t)col;
	s->saved.pen = s->pen;
}

/* Put libvterm's cursor at (row, col) by CUP, which it reads relative
 * to the margins under DECOM; the parser must be between sequences. */
static void
inject_cup(struct screen *s, int row, int col)
{
	char buf[32];
	int n;

	if (s->m.decom) {
		row -= s->m.top;
		col -= s->m.declrmm ? s->m.left : 0;
	}
	n = snprintf(buf, sizeof buf, "\033[%d;%dH", row > 0 ? row + 1 : 1, col > 0 ? col + 1 : 1);
	vterm_input_write(s->vt, buf, (size_t)n);
	s->phantom = 0;
}

/* DECRC: libvterm restored the pen but for SGR 8, which is ours. It also
 * restored the position unclipped: saved before the screen shrank, that
 * puts its cursor off the screen, where it reads and writes past its line
 * table, so bring it back in. */
static void
restore_cursor(struct screen *s)
{
	uint32_t conceal = s->saved.valid ? s->saved.pen.ch & ATTR_CONCEAL : 0;
	int row, col;

	s->pen.ch = (s->pen.ch & ~ATTR_CONCEAL) | conceal;
	screen_cursor(s, &row, &col);
	if (row >= s->rows || col >= s->cols)
		inject_cup(s, row < s->rows ? row : s->rows - 1, col < s->cols ? col : s->cols - 1);
}

/* After a resize. libvterm 0.1.4 clips the bottom and right margins to
 * the new size but not the top and left: with the top at or below the
 * bottom, its next scroll moves a negative length of its line table and
 * crashes. xterm resets the margins on a resize: tell libvterm the same
 * when they went wrong, keeping the cursor. A sequence cut by the resize
 * is cancelled (CAN) to make room. */
void
scan_resized(struct screen *s)
{
	int row, col, v, h;

	v = s->m.top >= (s->m.bottom == -1 ? s->rows : s->m.bottom);
	h = s->m.left >= (s->m.right == -1 ? s->cols : s->m.right);
	if (!v && !h)
		return;
	if (s->sc.state != S_GROUND) {
		vterm_input_write(s->vt, "\030", 1);
		s->sc.state = S_GROUND;
		s->sc.skip = 0;
		s->sc.npend = 0;
	}
	screen_cursor(s, &row, &col);
	if (v) {
		vterm_input_write(s->vt, "\033[r", 3);
		s->m.top = 0;
		s->m.bottom = -1;
	}
	if (h) {
		vterm_input_write(s->vt, "\033[s", 3);
		s->m.left = 0;
		s->m.right = -1;
	}
	inject_cup(s, row, col);
}

/* A finished OSC: libvterm 0.1.4 knows titles 0 (both), 1 (icon), 2. */
static void
osc_end(struct screen *s)
{
	struct scan *sc = &s->sc;
	size_t n = sc->osclen;
	char **dst[2] = { NULL, NULL };
	char *t;

	if (n < 2 || sc->osc[1] != ';' || sc->osc[0] < '0' || sc->osc[0] > '2')
		return;
	if (sc->osc[0] != '2')
		dst[0] = &s->icon;
	if (sc->osc[0] != '1')
		dst[1] = &s->title;
	if (sc->oscover) {
		/* Cut a long title at a character boundary. */
		while (n > 2 && ((uint8_t)sc->osc[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 2 && (uint8_t)sc->osc[n - 1] >= 0xc0)
			n--;
	}
	for (int i = 0; i < 2; i++) {
		if (dst[i] == NULL)
			continue;
		t = xmalloc(n - 1);
		memcpy(t, sc->osc + 2, n - 2);
		t[n - 2] = '\0';
		free(*dst[i]);
		*dst[i] = t;
	}
}

/* 1 for a DECRQSS (DCS $ q setting ST) libvterm 0.1.4 does not answer
 * well: for a setting it does not know, it prints "0$r" with a format that
 * takes the setting's length for a string (%.s), which is undefined. */
static int
dcs_bad_request(const struct scan *sc)
{
	static const char *const known[] = { "m", "r", "s", " q", "\"q" };
	size_t n = sc->osclen;

	if (n < 2 || sc->osc[0] != '$' || sc->osc[1] != 'q')
		return 0;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!sc->oscover && n - 2 == strlen(known[i]) &&
		    memcmp(sc->osc + 2, known[i], n - 2) == 0)
			return 0;
	return 1;
}

/* An OSC or DCS string ends at p (BEL, or the \ of ST). One that libvterm
 * would mishandle, or that cancel says so of, is ended by CAN instead: all
 * libvterm would do with the string is a reply, which nobody reads. */
static void
str_end(struct screen *s, const uint8_t *p, int cancel)
{
	s->sc.state = S_GROUND;
	if (s->sc.str)
		osc_end(s);
	else if (dcs_bad_request(&s->sc))
		cancel = 1;
	if (cancel) {
		screen_flush(s, p);
		vterm_input_write(s->vt, "\030", 1);
		s->fed = p + 1;
	}
}

/* DECSTBM, exactly as libvterm 0.1.4 validates it. */
static void
set_tbm(struct screen *s, const long *a, int n)
{
	long top = CSI_ARG_OR(a[0], 1) - 1;
	long bot = n < 2 || CSI_ARG_IS_MISSING(a[1]) ? -1 : CSI_ARG(a[1]);

	if (top < 0)
		top = 0;
	if (top > s->rows)
		top = s->rows;
	if (bot < -1)
		bot = -1;
	if (top == 0 && bot == s->rows)
		bot = -1;
	else if (bot > s->rows)
		bot = s->rows;
	if ((bot > -1 ? bot : s->rows) <= top) {
		top = 0;
		bot = -1;
	}
	s->m.top = (int32_t)top;
	s->m.bottom = (int32_t)bot;
}

/* DECSLRM: libvterm 0.1.4 sets these margins even with DECLRMM off (they
 * act once it is on), and never treats CSI s as SCOSC. */
static void
set_lrm(struct screen *s, const long *a, int n)
{
	long left = CSI_ARG_OR(a[0], 1) - 1;
	long right = n < 2 || CSI_ARG_IS_MISSING(a[1]) ? -1 : CSI_ARG(a[1]);

	if (left < 0)
		left = 0;
	if (left > s->cols)
		left = s->cols;
	if (right < -1)
		right = -1;
	if (left == 0 && right == s->cols)
		right = -1;
	else if (right > s->cols)
		right = s->cols;
	if (right > -1 && right <= left) {
		left = 0;
		right = -1;
	}
	s->m.left = (int32_t)left;
	s->m.right = (int32_t)right;
}

/* SGR: only conceal (8, 28) is ours; walk the parameters the way
 * libvterm's setpen does, so that 38;5;8 is a colour and not 8. */
static void
sgr(struct screen *s, const uint8_t *p)
{
	const long *a = s->sc.args;
	int n = s->sc.argi, i = 0;
	uint32_t want = s->pen.ch & ATTR_CONCEAL;

	while (i < n) {
		long v = CSI_ARG(a[i]);

		if (v == CSI_ARG_MISSING || v == 0 || v == 28)
			want = 0;
		else if (v == 8)
			want = ATTR_CONCEAL;
		else if (v == 38 || v == 48) {
			long pal = i + 1 < n ? CSI_ARG(a[i + 1]) : CSI_ARG_MISSING;
			int left = n - i - 2 > 0 ? n - i - 2 : 0;

			i += 1 + (pal == 2 ? (left < 3 ? left : 3) : pal == 5 ? left > 0 : 0);
		}
		while (i < n && CSI_ARG_HAS_MORE(a[i++]))
			;
	}
	if (want != (s->pen.ch & ATTR_CONCEAL)) {
		screen_flush(s, p + 1);
		s->pen.ch = (s->pen.ch & ~ATTR_CONCEAL) | want;
	}
}

/* One DEC private mode; first is whether it led its list, since libvterm
 * applies only that one. */
static void
dec_mode(struct screen *s, long mode, int v, int first, const uint8_t *p)
{
	struct modes *m = &s->m;

	switch (mode) {
	case 1:
		m->decckm = v;
		break;
	case 5:
		m->decscnm = v;
		break;
	case 6:
		if (first)
			m->decom = v;
		break;
	case 7:
		if (first) {
			screen_flush(s, p + 1);
			m->decawm = v;
		}
		break;
	case 9:
	case 1000:
	case 1002:
	case 1003:
		/* As in xterm, resetting any of them turns the mouse off. */
		m->mouse = v ? (uint16_t)mode : 0;
		break;
	case 12:
		m->cursor_blink = (int8_t)v;
		break;
	case 25:
		m->cursor_visible = v;
		break;
	case 69:
		if (first)
			m->declrmm = v;
		break;
	case 1004:
		m->focus = v;
		break;
	case 1005:
		m->mouse_utf8 = v;
		break;
	case 1006:
		m->mouse_sgr = v;
		break;
	case 1015:
		m->mouse_urxvt = v;
		break;
	case 1047:
		if (first && v)
			m->altmode = 1047;
		break;
	case 1048:
	case 1049:
		if (!first)
			break;
		screen_flush(s, p + 1);
		if (v)
			save_cursor(s);
		else
			restore_cursor(s);
		if (v && mode == 1049)
			m->altmode = 1049;
		break;
	case 2004:
		m->paste = v;
		break;
	}
}

/* The column of libvterm's cursor, for a tab stop set or cleared by the
 * sequence ending at p; -1 if it is off the columns, which libvterm 0.1.4
 * allows (-1 on a double-width line of a 1-column screen, 0 columns wide)
 * and would index its tab stops with: the sequence is then cancelled by
 * CAN instead. */
static int
tab_col(struct screen *s, const uint8_t *p, int *col)
{
	int row;

	screen_flush(s, p);
	screen_cursor(s, &row, col);
	if (*col >= 0 && *col < s->cols) {
		screen_flush(s, p + 1);
		return 0;
	}
	vterm_input_write(s->vt, "\030", 1);
	s->fed = p + 1;
	return -1;
}

/* A complete CSI sequence ending at p. */
static void
csi_end(struct screen *s, uint8_t c, const uint8_t *p)
{
	struct scan *sc = &s->sc;
	const long *a = sc->args;
	int n = sc->argi, col;
	long v;

	if (sc->nleader == 1 && sc->leader == '?' && sc->ninter == 0) {
		if (c != 'h' && c != 'l')
			return;
		for (int i = 0; i < n; i++)
			if (!CSI_ARG_IS_MISSING(a[i]))
				dec_mode(s, CSI_ARG(a[i]), c == 'h', i == 0, p);
		return;
	}
	if (sc->nleader != 0)
		return;
	if (sc->ninter == 1 && c == 'q') {
		v = CSI_ARG_OR(a[0], 0);
		if (sc->inter == ' ' && v >= 0 && v <= 6) {
			s->m.cursor_style = (uint8_t)v;
			s->m.cursor_blink = -1;
		} else if (sc->inter == '"')
			s->m.prot = v == 1;
		return;
	}
	if (sc->ninter != 0)
		return;
	switch (c) {
	case 'A': case 'B': case 'C': case 'D': case 'E': case 'F': case 'G':
	case 'H': case 'a': case 'd': case 'e': case 'f': case '`':
		/* Cursor movement ends libvterm's pending wrap even when the
		 * cursor does not move, and then no callback says so. */
		screen_flush(s, p + 1);
		s->phantom = 0;
		break;
	case 'b':
		/* REP loops forever in libvterm 0.1.4 when the glyph to repeat
		 * is zero columns wide (none yet, or a lone combining mark):
		 * cancel it with CAN instead of letting it end. */
		screen_flush(s, p);
		if (s->cwidth <= 0) {
			vterm_input_write(s->vt, "\030", 1);
			s->fed = p + 1;
		}
		break;
	case 'm':
		sgr(s, p);
		break;
	case 'h':
	case 'l':
		/* IRM and LNM change how libvterm draws: its rule, first only. */
		v = CSI_ARG(a[0]);
		if (v == 4 || v == 20)
			screen_flush(s, p + 1);
		if (v == 4)
			s->m.irm = c == 'h';
		else if (v == 20)
			s->m.lnm = c == 'h';
		break;
	case 'r':
		set_tbm(s, a, n);
		break;
	case 's':
		set_lrm(s, a, n);
		break;
	case 'g':
		v = CSI_ARG_OR(a[0], 0);
		if (v == 0) {
			if (tab_col(s, p, &col) == 0)
				s->tabs[col] = 0;
			break;
		}
		screen_flush(s, p + 1);
		if (v == 3 || v == 5)
			memset(s->tabs, 0, s->cols);
		break;
	}
}

/* A complete escape sequence (not CSI, OSC, DCS) ending at p. */
static void
esc_end(struct screen *s, uint8_t c, const uint8_t *p)
{
	struct scan *sc = &s->sc;

	if (sc->ninter == 1 && sc->inter >= '(' && sc->inter <= '+') {
		if (c == '0' || c == 'A' || c == 'B')
			s->m.g[sc->inter - '('] = (char)c;
		return;
	}
	if (sc->ninter == 1 && sc->inter == '#' && c == '8') {
		/* DECALN fills the screen with E, but leaves what REP repeats. */
		int cwidth;

		screen_flush(s, p);
		cwidth = s->cwidth;
		screen_flush(s, p + 1);
		s->cwidth = cwidth;
		return;
	}
	if (sc->ninter != 0)
		return;
	switch (c) {
	case '7':
		screen_flush(s, p + 1);
		save_cursor(s);
		break;
	case '8':
		screen_flush(s, p + 1);
		restore_cursor(s);
		break;
	case '=':
		s->m.keypad = 1;
		break;
	case '>':
		s->m.keypad = 0;
		break;
	case 'c':
		screen_flush(s, p + 1);
		scan_reset_modes(s);
		break;
	case 'n':
		s->m.gl = 2;
		break;
	case 'o':
		s->m.gl = 3;
		break;
	}
}

/* ESC and a byte in 0x40-0x5f: a C1 control in 7 bits. */
static void
c1(struct screen *s, uint8_t c, const uint8_t *p)
{
	struct scan *sc = &s->sc;
	int col;

	sc->state = S_GROUND;
	switch (c) {
	case '[':
		sc->state = S_CSI_LEADER;
		sc->nleader = sc->ninter = 0;
		sc->argi = 0;
		sc->args[0] = CSI_ARG_MISSING;
		break;
	case ']':
	case 'P':
		sc->state = S_STR;
		sc->str = c == ']';
		sc->osclen = 0;
		sc->oscover = 0;
		break;
	case 'H':
		/* HTS */
		if (tab_col(s, p, &col) == 0)
			s->tabs[col] = 1;
		break;
	}
}

/* A glyph took more combining marks than a cell keeps, and libvterm
 * would go on adding the next write's to a buffer that only grows: keep
 * the non-ASCII bytes that follow from it, up to the next ASCII byte
 * (text, control or sequence), which ends the glyph. They cannot show. */
static const uint8_t *
drop_marks(struct screen *s, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;

	while (q < end && *q >= 0x80)
		q++;
	if (q > p) {
		screen_flush(s, p);
		s->fed = q;
	}
	if (q < end)
		s->flood = 0;
	return q;
}

/* Keep bytes of an unfinished sequence, controls left out. */
static void
pend_add(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	for (; p < end; p++) {
		if (*p < 0x20 && *p != 0x1b)
			continue;
		if (sc->npend == SCAN_PEND)
			sc->pendover = 1;
		else
			sc->pend[sc->npend++] = *p;
	}
}

/* Bytes in a UTF-8 character that starts with c; 0 if c starts none. */
static size_t
utf8_len(uint8_t c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0 && c < 0xf0)
		return 3;
	if (c >= 0xc0 && c < 0xe0)
		return 2;
	return 0;
}

/* Where a UTF-8 character cut by the end of [from, end) starts, or end. */
static const uint8_t *
utf8_cut(const uint8_t *from, const uint8_t *end)
{
	for (const uint8_t *q = end; q > from && end - q < 3; q--) {
		size_t n = utf8_len(q[-1]);

		if ((q[-1] & 0xc0) == 0x80)
			continue;
		return n > (size_t)(end - q + 1) ? q - 1 : end;
	}
	return end;
}

/* Walk one slice of output, feeding libvterm as we go. */
void
scan_feed(struct screen *s, const uint8_t *buf, size_t len)
{
	struct scan *sc = &s->sc;
	const uint8_t *p = buf, *end = buf + len, *seq = buf, *esc = NULL, *cut;
	uint8_t c, *tmp;

	if (sc->state == S_GROUND && sc->npend > 0) {
		/* The start of a UTF-8 character cut by the end of the last
		 * slice waits in pend[]: libvterm 0.1.4 decodes a character
		 * split between two writes as U+FFFD when text came before it
		 * in the first. Feed it with this slice, in one write. */
		tmp = xmalloc(sc->npend + len);
		memcpy(tmp, sc->pend, sc->npend);
		memcpy(tmp + sc->npend, buf, len);
		len += sc->npend;
		sc->npend = 0;
		scan_feed(s, tmp, len);
		free(tmp);
		return;
	}
	s->fed = p;
	for (; p < end; p++) {
		if (sc->state == S_GROUND) {
			if (s->flood)
				p = drop_marks(s, p, end);
			while (p < end && !ground_special[*p])
				p++;
			if (p == end)
				break;
		}
		c = *p;

		if (c == 0xc2 && sc->state == S_GROUND) {
			/* A C1 control in UTF-8 (U+0080-U+009F) is a glyph
			 * of width -1 to libvterm 0.1.4, which moves its cursor
			 * back a column, or off the line: keep it from libvterm
			 * (a terminal shows nothing for it). So that no later
			 * byte can complete one, libvterm gets 0xc2 only with
			 * the rest of its character, U+00A0-U+00BF; alone, it
			 * gets the U+FFFD it would have made of it. (Cut after
			 * the 0xc2, it waits whole for the next slice.) */
			if (p + 1 == end)
				continue;
			if (p[1] >= 0xa0 && p[1] < 0xc0) {
				p++;
				continue;
			}
			screen_flush(s, p);
			if (p[1] >= 0x80) {
				s->fed = p + 2;
				p++;
			} else {
				vterm_input_write(s->vt, "\xef\xbf\xbd", 3);
				s->fed = p + 1;
			}
			continue;
		}

		/* Controls act in every state, as in libvterm's parser. */
		if (c == 0x00 || c == 0x7f)
			continue;
		if (c == 0x18 || c == 0x1a) {
			sc->state = S_GROUND;
			sc->skip = 0;
			continue;
		}
		if (c == 0x1b) {
			esc = p;
			if (sc->state == S_STR || sc->state == S_STR_ESC)
				sc->state = S_STR_ESC;
			else {
				sc->state = S_ESC;
				sc->ninter = 0;
				sc->skip = 0;
				sc->npend = sc->pendover = 0;
				seq = p;
			}
			continue;
		}
		if (c == 0x07 && sc->state == S_STR) {
			str_end(s, p, 0);
			continue;
		}
		if (c < 0x20) {
			if (c == 0x0e)
				s->m.gl = 1;
			else if (c == 0x0f)
				s->m.gl = 0;
			continue;
		}

		switch (sc->state) {
		case S_STR:
			if (sc->osclen < SCAN_OSC)
				sc->osc[sc->osclen++] = (char)c;
			else
				sc->oscover = 1;
			break;
		case S_STR_ESC:
			if (c == '\\') {
				/* libvterm 0.1.4 takes the string as ending one
				 * byte before the ST, at its ESC: with the ESC in an
				 * earlier write, or a control between them, that is
				 * a length of -1, and it reads past the write. */
				str_end(s, p, p == buf || p[-1] != 0x1b);
				break;
			}
			/* The string is dropped; the ESC starts a sequence. */
			sc->state = S_ESC;
			sc->ninter = 0;
			sc->npend = sc->pendover = 0;
			if (esc != NULL)
				seq = esc;
			else {
				pend_add(sc, (const uint8_t *)"\033", (const uint8_t *)"\033" + 1);
				seq = p;
			}
			/* FALLTHROUGH */
		case S_ESC:
			/* libvterm 0.1.4 starts a CSI, OSC or DCS on its final
			 * byte whatever intermediates came before it; only its
			 * other C1 controls want none. */
			if ((sc->ninter == 0 && c >= 0x40 && c < 0x60) || c == '[' || c == ']' ||
			    c == 'P') {
				c1(s, c, p);
				break;
			}
			if (c >= 0x20 && c < 0x30) {
				if (sc->ninter < UINT8_MAX && sc->ninter++ == 0)
					sc->inter = (char)c;
			} else if (c >= 0x30 && c < 0x7f) {
				sc->state = S_GROUND;
				esc_end(s, c, p);
			}
			break;
		case S_CSI_LEADER:
			if (c >= 0x3c && c <= 0x3f) {
				if (sc->nleader < UINT8_MAX && sc->nleader++ == 0)
					sc->leader = (char)c;
				break;
			}
			sc->state = S_CSI_ARGS;
			/* FALLTHROUGH */
		case S_CSI_ARGS:
			if (c >= '0' && c <= '9') {
				long *a = &sc->args[sc->argi];

				if (sc->skip) {
					skip_byte(s, p);
					break;
				}
				if (*a == CSI_ARG_MISSING)
					*a = 0;
				if (*a < 100000000)
					*a = *a * 10 + (c - '0');
				break;
			}
			if (c == ';' || c == ':') {
				if (sc->skip || sc->argi == SCAN_ARGS - 1) {
					/* A 17th parameter would crash libvterm. */
					sc->skip = 1;
					skip_byte(s, p);
					break;
				}
				if (c == ':')
					sc->args[sc->argi] |= CSI_ARG_FLAG_MORE;
				sc->args[++sc->argi] = CSI_ARG_MISSING;
				break;
			}
			sc->argi++;
			sc->state = S_CSI_INTER;
			/* FALLTHROUGH */
		case S_CSI_INTER:
			if (c >= 0x20 && c < 0x30) {
				if (sc->ninter < UINT8_MAX && sc->ninter++ == 0)
					sc->inter = (char)c;
				break;
			}
			sc->state = S_GROUND;
			sc->skip = 0;
			if (c >= 0x40 && c < 0x7f)
				csi_end(s, c, p);
			break;
		}
	}
	if (sc->state != S_GROUND) {
		screen_flush(s, end);
		pend_add(sc, seq, end);
		return;
	}
	/* A character cut here waits for the rest. */
	cut = utf8_cut(s->fed > seq ? s->fed : seq, end);
	screen_flush(s, cut);
	sc->npend = (uint16_t)(end - cut);
	memcpy(sc->pend, cut, sc->npend);
	sc->pendover = 0;
}
