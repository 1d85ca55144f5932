/* A session's headless terminal screen, kept to redraw a reattaching
 * client's terminal.
 *
 * libvterm 0.1.4's parser and state layer interpret the output; the cells
 * live in a store of our own whose full-width scroll is a rotation of row
 * pointers, so feeding it costs little more than libvterm's parser. What
 * libvterm keeps private (modes, margins, keypad, charsets, title, saved
 * cursor, tab stops) is tracked by a small scanner reading the same bytes. */
#ifndef PERSH_SCREEN_H
#define PERSH_SCREEN_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct screen;

/* A blank screen as a freshly reset terminal of that size has. */
struct screen *screen_new(uint16_t rows, uint16_t cols);
void screen_free(struct screen *s);

/* Interpret the session's output; any length, any split. */
void screen_feed(struct screen *s, const uint8_t *buf, size_t len);

/* The terminal changed size: content is kept, cut or padded. */
void screen_resize(struct screen *s, uint16_t rows, uint16_t cols);

/* Append to out the bytes that make a freshly reset xterm-compatible
 * terminal of the same size show this screen and behave like it: cells,
 * the primary screen under an active alternate one, modes, margins, title,
 * pen, cursor. Returns 0, or -1 if out could not grow. */
int screen_dump(const struct screen *s, struct evbuffer *out);

/* Bytes allocated for this screen, libvterm's included. */
size_t screen_memory(const struct screen *s);

/* Where the answers to the application's terminal queries (DA, DSR,
 * DECRQM...) go; NULL (the default) discards them. */
void screen_set_reply_cb(struct screen *s,
    void (*cb)(const uint8_t *buf, size_t len, void *arg), void *arg);

#endif
