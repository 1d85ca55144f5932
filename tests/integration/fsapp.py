#!/usr/bin/python3
"""A deterministic full-screen program for the restore tests: it takes the
alternate screen, sets modes a client terminal must get back (application
cursor keys, bracketed paste, mouse reporting, a title, a scroll region),
draws colours (16, 256, RGB), attributes, wide and combining characters,
and repaints itself at the new size on SIGWINCH. It also answers the
question "how many replies to a DA query reached me" in a file."""
import os
import signal
import sys
import termios
import time
import tty

out = sys.stdout
replies_file = sys.argv[1] if len(sys.argv) > 1 else None


def draw():
    cols, rows = os.get_terminal_size()
    w = out.write
    w("\033[?1049h\033[?1h\033[?2004h\033[?1000h\033[?1006h\033]2;fsapp title\007")
    w("\033[H\033[2J")
    w("\033[1;31mbold red\033[0m \033[4;38;5;208munderlined 208\033[0m "
      "\033[38;2;10;200;30;48;2;40;40;90mrgb on rgb\033[0m \033[7mreverse\033[0m\r\n")
    w("wide: \u4e2d\u6587\u5b57 combining: e\u0301 a\u0308 emoji: \u2764\r\n")
    w(f"SIZE={rows}x{cols}\r\n")
    for i in range(4, rows - 1):
        w(f"\033[{32 + i % 6}mline {i:03d}\033[0m " + "." * min(40, cols - 12) + "\r\n")
    w(f"\033[{rows};1H\033[44;97m status: {rows}x{cols} \033[0m\033[K")
    w("\033[3;8H")  # leave the cursor somewhere particular
    out.flush()


signal.signal(signal.SIGWINCH, lambda *a: draw())
old = termios.tcgetattr(0)
tty.setraw(0)
try:
    draw()
    if replies_file:
        # ask the terminal who it is; count the answers that reach us
        out.write("\033[c")
        out.flush()
        got = b""
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            import select
            r, _, _ = select.select([0], [], [], 0.1)
            if r:
                got += os.read(0, 1024)
        with open(replies_file, "w") as f:
            f.write(str(got.count(b"\033[?")))
    while True:
        signal.pause()
finally:
    termios.tcsetattr(0, termios.TCSANOW, old)
