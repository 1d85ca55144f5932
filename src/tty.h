/* The client's terminal: raw mode that is always undone, and its size. */
#ifndef PERSH_TTY_H
#define PERSH_TTY_H

#include <stdint.h>

/* Put fd in raw mode; the old mode is restored by tty_restore, which is
 * also safe to call from a signal handler and more than once. */
int tty_raw(int fd);
void tty_restore(void);
/* Rows and columns of fd, or 24x80 if it has none. */
void tty_size(int fd, uint16_t *rows, uint16_t *cols);

#endif
