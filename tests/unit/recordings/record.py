#!/usr/bin/python3
"""Record real programs' output in a real PTY, for test_screen.c.

    tests/unit/recordings/record.py            # every scenario
    tests/unit/recordings/record.py vim less   # some
    tests/unit/recordings/record.py --list

Each scenario runs a program in a PTY of a fixed size with TERM=xterm-256color
and LANG=C.UTF-8, types keys into it with pauses, and writes everything the
program printed to NAME-ROWSxCOLS.rec beside this script. Some stop recording
while the program still runs (vim in the alternate screen) and kill it.
Standard library only (Debian's /usr/bin/python3); needs vim, less, top.
"""
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BYTES = 300 * 1024

C_SOURCE = r'''/* A small C file for vim to colour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 64

struct point {
	int x, y;
	const char *name;
};

static int
distance(const struct point *a, const struct point *b)
{
	int dx = a->x - b->x, dy = a->y - b->y;

	return dx * dx + dy * dy;	/* squared: no sqrt needed */
}

int
main(int argc, char **argv)
{
	struct point pts[SIZE];
	char buf[128] = "héllo wörld 日本語";

	for (int i = 0; i < SIZE; i++) {
		pts[i].x = i * 3 % 17;
		pts[i].y = i * 7 % 23;
		pts[i].name = argc > 1 ? argv[1] : "origin";
	}
	if (strlen(buf) > 10)
		printf("%s %d\n", buf, distance(&pts[0], &pts[1]));
	for (int i = 1; i < SIZE; i++)
		if (distance(&pts[i - 1], &pts[i]) > 100)
			fprintf(stderr, "far: %d\n", i);
	return EXIT_SUCCESS;
}
'''

SHELL_COLOURS = r'''
printf '\033[1mbold\033[0m \033[3mitalic\033[0m \033[4munder\033[0m \033[4:2mdouble\033[0m \033[4:3mcurly\033[0m \033[5mblink\033[0m \033[7mreverse\033[0m \033[8mconceal\033[0m \033[9mstrike\033[0m \033[11mfont1\033[10m\n'
for i in 0 1 2 3 4 5 6 7; do printf '\033[3%dm fg%d \033[9%dm bright%d \033[4%dm bg \033[10%dm bbg \033[0m\n' $i $i $i $i $i $i; done
i=0; while [ $i -lt 256 ]; do printf '\033[38;5;%dm%3d\033[48;5;%dm \033[0m' $i $i $((255 - i)); i=$((i + 1)); [ $((i % 16)) -eq 0 ] && printf '\n'; done
r=0; while [ $r -lt 256 ]; do printf '\033[38;2;%d;%d;%dm\033[48;2;%d;%d;%dm#' $r $((255 - r)) $((r / 2)) $((255 - r)) $r 128; r=$((r + 8)); done; printf '\033[0m\n'
printf '\033[1;38;5;208;48;2;10;20;30mmixed\033[22mnotbold\033[39mdefault-fg\033[49m\n'
printf '\033[41m\033[Kred line erased\033[0m\n\033[44m   \033[0m blue blank cells\n'
'''

SHELL_UNICODE = r'''
printf 'CJK: 日本語のテキスト 中文字符 한국어\n'
printf 'combining: e\xcc\x81 a\xcc\x80\xcc\x81 n\xcc\x83 o\xcc\x88\xcc\x84\xcc\xa3 Z\xcd\x91\xcd\x92\xcd\x93\n'
printf 'emoji: \xf0\x9f\x98\x80 \xf0\x9f\x8e\x89 \xf0\x9f\x91\x8d \xe2\x9c\x85 \xf0\x9f\x9a\x80\n'
printf 'fullwidth: ＡＢＣ１２３\n'
printf '\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e%.0s' 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; printf '\n'
printf 'x\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e%.0s' 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; printf '\n'
printf 'overwrite: \xe6\x97\xa5\xe6\x9c\xac\033[2DX\033[3CY\n'
printf 'box: \033(0lqqqk\033(B ascii \033(0x\033(B\n'
printf '\033[5;10H\033[2@ins\033[3P del\033[10;1H'
'''

SHELL_SCROLL = r'''
i=0; while [ $i -lt 30 ]; do printf 'line %d before the region\n' $i; i=$((i + 1)); done
printf '\033[5;15r\033[15;1H'
i=0; while [ $i -lt 40 ]; do printf '\033[3%dmregion line %d\033[0m\n' $((i % 8)) $i; i=$((i + 1)); done
printf '\033[7;1H\033[2L\033[9;1H\033[1M\033[10;1H\033[2S\033[1T'
printf '\033[?69h\033[10;40s\033[6;1H\033[41m'
i=0; while [ $i -lt 12 ]; do printf '\033[15;10Hmargins %d' $i; printf '\033D'; i=$((i + 1)); done
printf '\033[0m\033[?69l\033[r\033[24;1H'
'''

SHELL_MODES = r'''
printf '\033]0;both title and icon\007'
printf '\033]2;the window title: 日本\033\\'
printf '\033]1;icon\007'
printf '\033[?2004h\033[?1006;1002h\033[?1004h\033[?1h\033=\033[?12h\033[5 q\033[?1005h'
printf '\033[3g\033[1;5H\033H\033[1;13H\033H\033[1;40H\033H'
printf '\033[4;7H\033[1;32m\0337\033[0m\033[10;10H\033(0\016'
printf 'modes set\n'
sleep 0.3
'''


def scenarios(tmp):
    src = os.path.join(tmp, 'points.c')
    with open(src, 'w') as f:
        f.write(C_SOURCE)
    text = os.path.join(tmp, 'long.txt')
    with open(text, 'w') as f:
        for i in range(3000):
            f.write('%05d the quick brown fox jumps over the lazy dog %s\n' % (i, 'x' * (i % 40)))
    # Text on the primary screen first, so that leaving the alternate
    # screen has something to come back to.
    before = ('printf "\\033[1;34m$ \\033[mls -l\\ntotal 8\\n-rw-r--r-- 1 user user 921 points.c\\n'
              '\\033[32m\\xe6\\x97\\xa5\\xe6\\x9c\\xac\\033[m e\\xcc\\x81 done\\n\\033[1;34m$ \\033[m"; ')
    vim = ['/bin/bash', '-c', before + 'exec vim -u DEFAULTS -i NONE -N ' + src]
    vim_keys = [(1.5, b''), (0.3, b'10j'), (0.3, b'G'), (0.3, b'gg'), (0.3, b'/distance\r'),
                (0.3, b'oint added = 42; /* \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac */\x1b'),
                (0.3, b':set number\r'), (0.3, b'5j'), (0.5, b'')]
    sh = ['/bin/bash', '-c']
    return {
        # name: (rows, cols, argv, keys, keep running after the keys)
        'vim': (24, 80, vim, vim_keys + [(0.5, b':q!\r')], False),
        'vim-alt': (24, 80, vim, vim_keys, True),
        'vim-big': (50, 200, vim, vim_keys + [(0.3, b':vsplit\r'), (0.5, b'')], True),
        'less': (24, 80, ['/bin/bash', '-c', before + 'exec less ' + text], [(1.0, b''), (0.3, b' '), (0.3, b' '), (0.3, b' '),
                                           (0.3, b'/01000\r'), (0.5, b'')], True),
        'top': (24, 80, ['top', '-d', '0.2', '-n', '3'], [], False),
        'unicode': (24, 80, sh + [SHELL_UNICODE], [], False),
        'seq': (24, 80, ['seq', '1', '40000'], [], False),
        'ls': (24, 80, ['ls', '-l', '--color=always', '/usr/bin'], [], False),
        'colours': (24, 80, sh + [SHELL_COLOURS], [], False),
        'scroll-region': (24, 80, sh + [SHELL_SCROLL], [], False),
        'modes': (24, 80, sh + [SHELL_MODES], [], False),
    }


def record(argv, rows, cols, keys, keep_running, tmp):
    """Run argv in a PTY; return what it printed."""
    env = {'TERM': 'xterm-256color', 'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8',
           'HOME': tmp, 'PATH': '/usr/bin:/bin', 'LESSHISTFILE': '-',
           'COLUMNS': str(cols), 'LINES': str(rows)}
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp)
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    out = bytearray()

    def drain(seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            out.extend(data)

    alive = True
    for pause, key in keys:
        alive = drain(pause)
        if not alive:
            break
        if key:
            os.write(fd, key)
    if keep_running:
        if alive:
            drain(0.5)
        os.kill(pid, signal.SIGKILL)
    elif alive:
        drain(20)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)
    return bytes(out)


def main():
    args = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        table = scenarios(tmp)
        if args == ['--list']:
            print('\n'.join(table))
            return 0
        for name in args or table:
            rows, cols, argv, keys, keep = table[name]
            data = record(argv, rows, cols, keys, keep, tmp)
            path = os.path.join(HERE, '%s-%dx%d.rec' % (name, rows, cols))
            with open(path, 'wb') as f:
                f.write(data)
            note = '' if len(data) < MAX_BYTES else '  TOO BIG (limit %d)' % MAX_BYTES
            print('%-40s %7d bytes%s' % (os.path.basename(path), len(data), note))
    return 0


if __name__ == '__main__':
    sys.exit(main())
