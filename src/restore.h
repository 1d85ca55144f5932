/* A session's screen for redrawing reattaching clients, kept off the hot
 * path: a terminal emulator fed from the output ring when the loop is idle. */
#ifndef PERSH_RESTORE_H
#define PERSH_RESTORE_H

#include <stddef.h>
#include <stdint.h>

struct restore;
struct ring;
struct evbuffer;

struct restore *restore_new(const char *name, struct ring *ring, uint16_t rows, uint16_t cols);
void restore_free(struct restore *r);
/* New output is in the ring: catch up when the loop is idle. */
void restore_output(struct restore *r);
/* The shell is paused by slow clients (1) or runs again (0): a pause
 * that is not the shell's own does not let the emulator catch up. */
void restore_hold(struct restore *r, int held);
/* The PTY took a new size at the ring's current head. */
void restore_resize(struct restore *r, uint16_t rows, uint16_t cols);
/* How many clients are attached: with none, a caught-up emulator is folded
 * into a small snapshot and freed. */
void restore_set_attached(struct restore *r, unsigned n);
/* Catch up with everything in the ring, then append the bytes that repaint
 * a terminal with the current screen. Returns the ring offset the redraw
 * stands for (live output continues from there). */
uint64_t restore_dump(struct restore *r, struct evbuffer *out);
/* Daemon exit: free what restore keeps across sessions. */
void restore_shutdown(void);
/* Bytes held (emulator or snapshot), for ls and the bench. */
size_t restore_memory(const struct restore *r);

#endif
