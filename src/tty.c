/* The client's terminal: raw mode that is always undone, and its size. */
#include "tty.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1, saved_fl;

/* Undo raw mode and non-blocking I/O; async-signal-safe. */
void
tty_restore(void)
{
	if (saved_fd == -1)
		return;
	tcsetattr(saved_fd, TCSANOW, &saved);
	fcntl(saved_fd, F_SETFL, saved_fl);
	saved_fd = -1;
}

/* Put fd in raw mode, remembering how it was. */
int
tty_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &saved) == -1)
		return -1;
	saved_fl = fcntl(fd, F_GETFL);
	saved_fd = fd;
	atexit(tty_restore);
	t = saved;
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	/* TCSANOW: keys typed while attaching are kept, not flushed. */
	return tcsetattr(fd, TCSANOW, &t);
}

/* Rows and columns of fd, or 24x80 if it has none. */
void
tty_size(int fd, uint16_t *rows, uint16_t *cols)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	} else {
		*rows = 24;
		*cols = 80;
	}
}
