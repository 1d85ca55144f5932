"""Integration test harness for persh: a private environment per test (temp
dir, INI file), the daemon as a subprocess, clients in real PTYs, and a raw
wire-protocol client (see src/proto.h).

Every wait is a condition polled until a deadline; every process started here
is remembered by pid and ended in teardown, even when the test fails.
"""

import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTSHELL = HERE / "testshell.sh"

# Deadlines are multiplied by this (e.g. 3 under ASan/valgrind).
SCALE = float(os.environ.get("PERSH_TEST_TIMEOUT_SCALE", "1"))
# PERSH_VALGRIND=1 runs every daemon a test starts under valgrind memcheck;
# any error or leak fails the test at teardown (see tests/run-valgrind).
VALGRIND = os.environ.get("PERSH_VALGRIND") == "1"
VALGRIND_ARGS = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                 "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect"]


def persh_bin():
    path = os.environ.get("PERSH_BIN")
    if not path:
        raise RuntimeError("PERSH_BIN is not set (path to the persh binary under test)")
    return str(Path(path).resolve())


# --------------------------------------------------------------------------
# waiting


class Timeout(AssertionError):
    pass


def deadline(timeout):
    return time.monotonic() + timeout * SCALE


def wait_for(cond, timeout=5.0, what="condition", interval=0.02):
    """Poll cond() until it returns something truthy; return that. Raises
    Timeout (an AssertionError) at the deadline."""
    end = deadline(timeout)
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= end:
            raise Timeout(f"timed out after {timeout * SCALE:.1f}s waiting for {what}")
        select.select([], [], [], interval)


# --------------------------------------------------------------------------
# processes through /proc


def proc_stat(pid):
    """Fields of /proc/PID/stat we care about, or None if there is no such
    process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = data[data.index("(") + 1 : data.rindex(")")]
    rest = data[data.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state)
    return {
        "comm": comm,
        "state": rest[0],
        "ppid": int(rest[1]),
        "pgrp": int(rest[2]),
        "session": int(rest[3]),
        "tty_nr": int(rest[4]),
        "starttime": int(rest[19]),
    }


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def proc_exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children(pid):
    out = []
    for p in all_pids():
        st = proc_stat(p)
        if st is not None and st["ppid"] == pid:
            out.append(p)
    return out


def descendants(pid):
    """(pid, starttime) of every live descendant of pid."""
    table = {}
    for p in all_pids():
        st = proc_stat(p)
        if st is not None:
            table[p] = st
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for p, st in table.items():
            if st["ppid"] == parent and st["state"] != "Z":
                out.append((p, st["starttime"]))
                todo.append(p)
    return out


def pid_running(pid, starttime=None):
    """True if pid exists, is not a zombie, and (if given) is the same
    process (start time) as the one we recorded."""
    st = proc_stat(pid)
    if st is None or st["state"] in ("Z", "X"):
        return False
    return starttime is None or st["starttime"] == starttime


def kill_quietly(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# a command in a real PTY


def _set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _make_ctty():
    # Runs in the child after setsid() (start_new_session): make the PTY
    # slave (stdin) our controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Term:
    """A command running in a fresh PTY as the session leader with the PTY as
    its controlling terminal. A reader thread accumulates everything written
    to the terminal; expect() searches it from a mark that advances past
    each match."""

    def __init__(self, argv, env, rows=24, cols=200, cwd=None, separate_stderr=False, name="term"):
        self.name = name
        self.argv = list(argv)
        self.master, slave = os.openpty()
        _set_winsize(slave, rows, cols)
        self.slave_name = os.ttyname(slave)
        self.buf = bytearray()
        self.err = bytearray()
        self.mark = 0
        self.eof = False
        self.cond = threading.Condition()
        self._stop = False
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=subprocess.PIPE if separate_stderr else slave,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_make_ctty,
                close_fds=True,
            )
        finally:
            os.close(slave)
        self.pid = self.proc.pid
        self.threads = [threading.Thread(target=self._reader, name=f"{name}-reader", daemon=True)]
        if separate_stderr:
            self.threads.append(
                threading.Thread(target=self._err_reader, name=f"{name}-stderr", daemon=True)
            )
        for t in self.threads:
            t.start()

    # -- reading

    def _reader(self):
        while not self._stop:
            try:
                r, _, _ = select.select([self.master], [], [], 0.05)
            except (OSError, ValueError):
                break
            if not r:
                continue
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:  # EIO: every slave fd is closed
                data = b""
            with self.cond:
                if data:
                    self.buf += data
                else:
                    self.eof = True
                self.cond.notify_all()
            if not data:
                break

    def _err_reader(self):
        f = self.proc.stderr
        while True:
            data = f.read1(1 << 16) if hasattr(f, "read1") else os.read(f.fileno(), 1 << 16)
            if not data:
                break
            with self.cond:
                self.err += data
                self.cond.notify_all()

    def output(self, since=0):
        with self.cond:
            return bytes(self.buf[since:])

    def text(self, since=0):
        return self.output(since).decode(errors="replace")

    def tail(self, n=1500):
        with self.cond:
            return bytes(self.buf[max(self.mark, len(self.buf) - n) :])

    def expect(self, pattern, timeout=10.0, overlap=4096):
        """Wait until pattern appears in the output after the mark.

        pattern: bytes (a literal), str (a regex, UTF-8) or a compiled bytes
        regex. Returns the re.Match (or a (start, end) tuple for literals)
        and moves the mark past it. Only the newest output plus `overlap`
        bytes is searched again on each wake-up, so huge outputs stay cheap.
        """
        if isinstance(pattern, str):
            pattern = re.compile(pattern.encode())
        end = deadline(timeout)
        with self.cond:
            start = self.mark
            while True:
                if isinstance(pattern, bytes):
                    i = self.buf.find(pattern, start)
                    if i >= 0:
                        m = (i, i + len(pattern))
                        self._advance(m[1])
                        return m
                else:
                    m = pattern.search(self.buf, start)
                    if m:
                        self._advance(m.end())
                        return m
                start = max(self.mark, len(self.buf) - overlap)
                left = end - time.monotonic()
                # after EOF the buffer cannot grow: the search above was final
                if left <= 0 or self.eof:
                    raise Timeout(
                        f"{self.name}: {pattern!r} not seen within {timeout * SCALE:.1f}s"
                        f" (eof={self.eof}, exit={self.proc.poll()});"
                        f" output after mark ends with: {self.tail()!r}"
                    )
                self.cond.wait(min(left, 0.1))

    def _advance(self, pos):
        self.mark = pos
        # keep memory bounded for tests that stream megabytes
        if self.mark > (8 << 20):
            del self.buf[: self.mark]
            self.mark = 0

    def set_mark(self):
        """Ignore everything seen so far in later expect() calls."""
        with self.cond:
            self.mark = len(self.buf)
            return self.mark

    def wait_output(self, cond, timeout=10.0, what="output"):
        """Wait until cond(all_output_bytes) is truthy."""
        end = deadline(timeout)
        with self.cond:
            while True:
                v = cond(bytes(self.buf))
                if v:
                    return v
                left = end - time.monotonic()
                if left <= 0:
                    raise Timeout(f"{self.name}: timed out waiting for {what}; tail {self.tail()!r}")
                self.cond.wait(min(left, 0.1))

    def stderr_text(self):
        with self.cond:
            return self.err.decode(errors="replace")

    # -- writing

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def sendline(self, line):
        self.send(line.encode() + b"\r" if isinstance(line, str) else line + b"\r")

    def input_pending(self):
        """Bytes typed into the terminal that the program has not read yet."""
        fd = os.open(self.slave_name, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
            return struct.unpack("i", buf)[0]
        finally:
            os.close(fd)

    def resize(self, rows, cols):
        # The kernel sends SIGWINCH to the terminal's foreground process group.
        _set_winsize(self.master, rows, cols)

    def termios(self):
        # On Linux, termios calls on the master act on the slave side.
        return termios.tcgetattr(self.master)

    def is_raw(self):
        try:
            return not self.termios()[3] & termios.ICANON
        except termios.error:
            return False

    def wait_raw(self, timeout=10.0):
        """Wait until the program put the terminal in raw mode (persh attach
        does that once the daemon answered ATTACHED). Keystrokes sent before
        that may be flushed by the mode change."""
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name}: exited {self.proc.returncode} before going raw;"
                    f" output {self.output()[-1500:]!r} {self.stderr_text()!r}")
            return self.is_raw()
        wait_for(ready, timeout, f"{self.name} to put its terminal in raw mode")

    # -- the process

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait_exit(self, timeout=10.0):
        """Wait for the process to exit and return its status; then give the
        readers a moment to collect what it wrote last (EOF on the PTY and
        the stderr pipe, unless something else still holds them)."""
        try:
            rc = self.proc.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            raise Timeout(
                f"{self.name}: still running after {timeout * SCALE:.1f}s; tail {self.tail()!r}"
            ) from None
        end = deadline(2)
        with self.cond:
            while not self.eof and time.monotonic() < end:
                self.cond.wait(0.05)
        for t in self.threads[1:]:
            t.join(max(0.0, end - time.monotonic()))
        return rc

    def kill(self):
        """Kill the process group we created (the child is its leader)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        self.kill()
        self._stop = True
        for t in self.threads:
            t.join(2)
        try:
            os.close(self.master)
        except OSError:
            pass
        if self.proc.stderr is not None:
            self.proc.stderr.close()


# --------------------------------------------------------------------------
# raw wire protocol (src/proto.h)

MAGIC = 0x50525348
VERSION = 1
HEADER_LEN = 8
MAX_DATA = 65536
MAX_PAYLOAD = MAX_DATA + 64

HELLO, HEARTBEAT, ERROR = 1, 2, 3
ATTACH, INPUT, RESIZE, DETACH, LIST, KILL, DETACH_ALL = 10, 11, 12, 13, 14, 15, 16
ATTACHED, OUTPUT, EXIT, DETACHED, SESSION, OK, REDRAW, STATS, SKIPPED = range(20, 29)
GONE = 17

ATTACH_CREATE, ATTACH_READONLY, ATTACH_RESUME = 0x1, 0x2, 0x4

E_VERSION, E_MALFORMED, E_NOSESSION, E_BADNAME = 1, 2, 3, 4
E_LIMIT, E_SELF, E_SPAWN, E_PERM, E_STATE = 5, 6, 7, 8, 9


def header(ftype, length, zero=0):
    return struct.pack(">HHI", ftype, zero, length)


def frame(ftype, payload=b""):
    return header(ftype, len(payload)) + payload


def pstr(s):
    b = s.encode() if isinstance(s, str) else s
    assert len(b) <= 255
    return bytes([len(b)]) + b


def hello_payload(magic=MAGIC, version=VERSION, flags=0, hb_timeout_ms=1000, pid=None):
    return struct.pack(">IHHII", magic, version, flags, hb_timeout_ms, os.getpid() if pid is None else pid)


def attach_payload(name, rows=24, cols=80, flags=ATTACH_CREATE, offset=0, term="xterm-256color"):
    return struct.pack(">HHIQ", rows, cols, flags, offset) + pstr(name) + pstr(term)


def parse_str(p, off):
    n = p[off]
    return p[off + 1 : off + 1 + n].decode(errors="replace"), off + 1 + n


def parse_text(p):
    code = struct.unpack(">H", p[:2])[0]
    return code, parse_str(p, 2)[0]


def parse_attached(p):
    pid, rows, cols, offset, flags = struct.unpack(">IHHQI", p[:20])
    return {"pid": pid, "rows": rows, "cols": cols, "offset": offset, "flags": flags,
            "name": parse_str(p, 20)[0]}


def parse_session(p):
    pid, rows, cols, clients, state, _z, exit_status, created, idle_ms = struct.unpack(
        ">IHHHBBiqq", p[:32])
    return {"pid": pid, "rows": rows, "cols": cols, "clients": clients, "state": state,
            "exit_status": exit_status, "created": created, "idle_ms": idle_ms,
            "name": parse_str(p, 32)[0]}


class Closed(Exception):
    pass


class RawClient:
    """One connection to the control socket, driven frame by frame. While
    waiting for frames it sends a HEARTBEAT every `heartbeat` seconds once it
    has said HELLO, unless heartbeat is None (a silent peer)."""

    def __init__(self, path, heartbeat=0.2, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout * SCALE)
        self.sock.connect(str(path))
        self.sock.setblocking(False)
        self.inbuf = bytearray()
        self.closed = False
        self.send_failed = None
        self.heartbeat = heartbeat
        self.said_hello = False
        self.last_sent = time.monotonic()
        self.frames = []  # everything received, in order

    def send_raw(self, data):
        """Send bytes; a peer that already closed is recorded, not raised."""
        view = memoryview(data)
        end = deadline(5)
        while view:
            try:
                n = self.sock.send(view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > end:
                    raise Timeout("socket send blocked for 5s")
                select.select([], [self.sock], [], 0.05)
            except (BrokenPipeError, ConnectionResetError) as e:
                self.send_failed = e
                return False
        self.last_sent = time.monotonic()
        return True

    def send(self, ftype, payload=b""):
        return self.send_raw(frame(ftype, payload))

    def hello(self, **kw):
        self.said_hello = True
        return self.send(HELLO, hello_payload(**kw))

    def _fill(self, until):
        """Read what is available, waiting at most until `until`. Returns
        False on EOF."""
        while True:
            now = time.monotonic()
            if self.heartbeat is not None and self.said_hello and not self.closed \
                    and now - self.last_sent >= self.heartbeat:
                self.send(HEARTBEAT, struct.pack(">Q", 0))
            wait = max(0.0, min(until - now, 0.05))
            r, _, _ = select.select([self.sock], [], [], wait)
            if r:
                try:
                    data = self.sock.recv(1 << 16)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    self.closed = True
                    return False
                self.inbuf += data
                return True
            if time.monotonic() >= until:
                return True

    def recv_frame(self, timeout=5.0):
        """Next frame as (type, payload). Raises Closed on EOF, Timeout at
        the deadline."""
        end = deadline(timeout)
        while True:
            if len(self.inbuf) >= HEADER_LEN:
                ftype, zero, length = struct.unpack(">HHI", self.inbuf[:HEADER_LEN])
                assert zero == 0, f"daemon sent a non-zero reserved field: {bytes(self.inbuf[:8])!r}"
                assert length <= MAX_PAYLOAD, f"daemon sent an oversized frame ({length})"
                if len(self.inbuf) >= HEADER_LEN + length:
                    payload = bytes(self.inbuf[HEADER_LEN : HEADER_LEN + length])
                    del self.inbuf[: HEADER_LEN + length]
                    self.frames.append((ftype, payload))
                    return ftype, payload
            if self.closed:
                raise Closed()
            if time.monotonic() >= end:
                raise Timeout(f"no frame within {timeout * SCALE:.1f}s")
            self._fill(end)

    def expect(self, types, timeout=5.0, skip=(HELLO, HEARTBEAT)):
        """Next frame whose type is in types, skipping `skip` ones. Any other
        frame is an assertion failure."""
        if isinstance(types, int):
            types = (types,)
        end = deadline(timeout)
        while True:
            ftype, payload = self.recv_frame(max(0.0, (end - time.monotonic()) / SCALE))
            if ftype in types:
                return ftype, payload
            if ftype in skip:
                continue
            detail = parse_text(payload) if ftype in (ERROR, DETACHED) else payload[:64]
            raise AssertionError(f"expected frame type {types}, got {ftype}: {detail!r}")

    def wait_closed(self, timeout=3.0):
        """Read until the daemon closes the connection. Returns the frames
        received meanwhile; raises Timeout if it stays open."""
        got = []
        end = deadline(timeout)
        while True:
            try:
                got.append(self.recv_frame(max(0.0, (end - time.monotonic()) / SCALE)))
            except Closed:
                return got
            except AssertionError:
                # garbage from the daemon's side would be a bug of its own
                raise

    def handshake(self, **kw):
        """HELLO both ways; returns the daemon's HELLO payload fields."""
        self.hello(**kw)
        ftype, p = self.expect(HELLO, skip=(HEARTBEAT,))
        magic, version, flags, hb, pid = struct.unpack(">IHHII", p[:16])
        return {"magic": magic, "version": version, "flags": flags, "hb_timeout_ms": hb, "pid": pid}

    def attach(self, name, **kw):
        self.send(ATTACH, attach_payload(name, **kw))
        ftype, p = self.expect((ATTACHED, ERROR))
        if ftype == ERROR:
            return {"error": parse_text(p)}
        return parse_attached(p)

    def read_output(self, pattern, timeout=5.0):
        """Collect OUTPUT (and REDRAW) bytes until the regex (bytes) matches them."""
        data = bytearray()
        end = deadline(timeout)
        rx = re.compile(pattern)
        while not rx.search(data):
            ftype, p = self.expect((OUTPUT, REDRAW, SKIPPED, EXIT, DETACHED, ERROR),
                                   max(0.0, (end - time.monotonic()) / SCALE))
            if ftype == SKIPPED:
                continue  # a REDRAW follows
            if ftype == REDRAW:
                data += p
                continue
            if ftype != OUTPUT:
                raise AssertionError(f"frame {ftype} while waiting for output {pattern!r}")
            data += p[8:]
        return bytes(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# the daemon


class Daemon:
    """`persh serve -f -c CFG` as our child, in its own process group."""

    def __init__(self, env, args=(), wait=True):
        self.env = env
        self.stderr_path = env.root / f"daemon{len(env.daemons)}.stderr"
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            (VALGRIND_ARGS if VALGRIND else []) +
            [persh_bin(), "serve", "-f", "-c", str(env.cfg_path), *args],
            stdin=subprocess.DEVNULL,
            stdout=self.stderr_f,
            stderr=self.stderr_f,
            env=env.base_env(),
            start_new_session=True,
            close_fds=True,
        )
        self.pid = self.proc.pid
        self.starttime = (proc_stat(self.pid) or {}).get("starttime")
        self.stopped = False
        env.daemons.append(self)
        if wait:
            self.wait_ready()

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout=5.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited with {self.proc.returncode} before its socket appeared;"
                    f" stderr: {self.stderr()!r}; log: {self.env.log_text()[-2000:]!r}")
            return self.env.socket_connectable()

        wait_for(ready, timeout, "the daemon's socket")

    def alive(self):
        return self.proc.poll() is None and pid_running(self.pid)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """End the daemon and everything under it. Returns a list of
        problems (things that were left running)."""
        if self.stopped:
            return []
        self.stopped = True
        problems = []
        procs = set(descendants(self.pid)) if self.proc.poll() is None else set()
        for s in self.env.session_pids_seen:
            st = proc_stat(s)
            if st is not None:
                procs.add((s, st["starttime"]))
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout * SCALE)
            except subprocess.TimeoutExpired:
                problems.append(f"daemon {self.pid} still running {timeout * SCALE:.0f}s after signal {sig}")
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
            if VALGRIND and self.proc.returncode == 99:
                problems.append(f"valgrind found errors in daemon {self.pid}: {self.stderr()[-4000:]}")
        else:
            if self.proc.returncode != 0:
                problems.append(f"daemon {self.pid} exited {self.proc.returncode} on signal {sig}")
        problems += reap_list(procs, "session process")
        self.stderr_f.close()
        problems += sanitizer_reports(self.stderr(), f"daemon {self.pid} stderr")
        return problems


SANITIZER_RX = re.compile(r"ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer"
                          r"|runtime error: |SUMMARY: \w+Sanitizer")


def sanitizer_reports(text, where):
    m = SANITIZER_RX.search(text)
    if not m:
        return []
    return [f"sanitizer report in {where}: {text[max(0, m.start() - 200):m.start() + 1500]}"]


def reap_list(procs, what, timeout=3.0):
    """Wait for each (pid, starttime) to be gone; SIGKILL and report the ones
    that are not."""
    problems = []
    try:
        wait_for(lambda: not any(pid_running(p, t) for p, t in procs), timeout, what)
    except Timeout:
        for p, t in procs:
            if pid_running(p, t):
                problems.append(f"{what} {p} ({proc_cmdline(p)}) left running")
                kill_quietly(p, signal.SIGKILL)
    return problems


# --------------------------------------------------------------------------
# one test's private world


class Env:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="persh-it-", dir="/tmp"))
        self.run = self.root / "run"
        self.sock = self.run / "persh.sock"
        self.pidfile = self.run / "persh.pid"
        self.log = self.root / "daemon.log"
        self.home = self.root / "home"
        self.home.mkdir()
        self.cfg_path = self.root / "persh.ini"
        self.settings = {
            "daemon": {"runtime_dir": str(self.run), "log": str(self.log), "log_level": "debug"},
            "session": {"shell": str(TESTSHELL), "stall_timeout": "500ms"},
            "heartbeat": {"interval": "200ms", "timeout": "1s"},
        }
        self.write_config()
        self.daemons = []
        self.terms = []
        self.raws = []
        self.session_pids_seen = set()
        self.extra_binaries = []

    # -- configuration

    def set(self, section, key, value):
        """Override one key (None removes it) and rewrite the file. Takes
        effect for daemons started afterwards."""
        sec = self.settings.setdefault(section, {})
        if value is None:
            sec.pop(key, None)
        else:
            sec[key] = str(value)
        self.write_config()

    def config_text(self):
        out = []
        for sec, kv in self.settings.items():
            out.append(f"[{sec}]")
            out += [f"{k} = {v}" for k, v in kv.items()]
            out.append("")
        return "\n".join(out)

    def write_config(self):
        self.cfg_path.write_text(self.config_text())

    def base_env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PERSH_") and k not in ("TMUX", "STY", "XDG_RUNTIME_DIR")}
        env.update({
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.root / "xdg-config"),
            "PERSH_CONFIG": str(self.cfg_path),
            "PERSH_BIN": persh_bin(),
            "TERM": "xterm-256color",
            "LC_ALL": "C",
            "SHELL": "/bin/sh",
        })
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    # -- processes

    def argv(self, *args, cfg=True):
        """persh argv for a client command: `persh CMD -c CFG ARGS...`."""
        if not cfg:
            return [persh_bin(), *args]
        return [persh_bin(), args[0], "-c", str(self.cfg_path), *args[1:]]

    def persh(self, *args, timeout=10.0, env=None, cfg=True, stdin=subprocess.DEVNULL):
        """Run a persh command to completion without a terminal."""
        p = subprocess.run(self.argv(*args, cfg=cfg), stdin=stdin, capture_output=True,
                           env=env or self.base_env(), timeout=timeout * SCALE,
                           start_new_session=True)
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        reports = sanitizer_reports(p.err, f"persh {' '.join(args)}")
        assert not reports, reports[0]
        return p

    def ls(self):
        p = self.persh("ls", "--json")
        assert p.returncode == 0, f"persh ls --json exited {p.returncode}: {p.err!r}"
        try:
            data = json.loads(p.out)
        except ValueError as e:
            raise AssertionError(f"persh ls --json printed invalid JSON ({e}): {p.out!r}")
        for s in data.get("sessions", []):
            if isinstance(s.get("pid"), int) and s["pid"] > 0:
                self.session_pids_seen.add(s["pid"])
        return data

    def session(self, name):
        """The ls --json row of session name, or None."""
        for s in self.ls()["sessions"]:
            if s.get("name") == name:
                return s
        return None

    def start_daemon(self, args=(), wait=True):
        return Daemon(self, args, wait)

    def term(self, argv, rows=24, cols=200, name=None, **kw):
        env = kw.pop("env", None) or self.base_env()
        t = Term(argv, env, rows, cols, name=name or f"term{len(self.terms)}", **kw)
        self.terms.append(t)
        return t

    def attach(self, name="s", *opts, rows=24, cols=200, wait_prompt=True, tname=None):
        """`persh attach [opts] NAME` in a new terminal; waits until it is
        attached (raw mode) and, for a new session, for the prompt."""
        t = self.term(self.argv("attach", *opts, name), rows, cols, name=tname or f"attach-{name}")
        t.wait_raw()
        if wait_prompt:
            t.expect(PROMPT, 10)
        return t

    def raw(self, **kw):
        r = RawClient(self.sock, **kw)
        self.raws.append(r)
        return r

    def socket_connectable(self):
        if not self.sock.exists():
            return False
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(1)
            s.connect(str(self.sock))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=5.0, what=None):
        rx = re.compile(pattern)

        def found():
            m = rx.search(self.log_text())
            return m
        return wait_for(found, timeout, what or f"log line matching {pattern!r}")

    def pidfile_daemon(self):
        """The pid in <run>/persh.pid if that process is a running persh."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if not pid_running(pid):
            return None
        exe = proc_exe(pid) or ""
        names = {persh_bin(), *self.extra_binaries}
        if exe.removesuffix(" (deleted)") not in names:
            return None
        return pid

    # -- teardown

    def cleanup(self):
        problems = []
        for r in self.raws:
            r.close()
        for t in self.terms:
            t.close()
            problems += sanitizer_reports(t.output().decode(errors="replace")
                                          + t.stderr_text(), f"{t.name} {t.argv}")
        # sessions we learned about, for the backstop
        for d in self.daemons:
            if d.alive():
                try:
                    self.ls()
                except Exception:
                    pass
        for d in self.daemons:
            problems += d.stop()
        # a daemon started by a client (auto-start) or left by a test
        pid = self.pidfile_daemon()
        if pid is not None:
            st = proc_stat(pid)
            procs = set(descendants(pid))
            kill_quietly(pid, signal.SIGTERM)
            try:
                wait_for(lambda: not pid_running(pid, st["starttime"]), 5, "daemon exit")
            except Timeout:
                problems.append(f"auto-started daemon {pid} ignored SIGTERM")
                kill_quietly(pid, signal.SIGKILL)
            problems += reap_list(procs, "session process")
        return problems

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


PROMPT = b"tsh$ "

_seq = [0]


def marker():
    """A fresh token; tests print it with `echo TOKEN$((1+1))` style
    arithmetic so the echo of the typed command never matches."""
    _seq[0] += 1
    return f"M{_seq[0]}x"


def shell_run(term, cmd, timeout=10.0):
    """Type `cmd` into the shell in term and return what it printed between
    two markers (as text, \\r\\n normalised)."""
    m = marker()
    term.sendline(f"echo {m}B$((1)); {cmd}; echo {m}E$((1))")
    term.expect(f"{m}B1\r\n".encode(), timeout)
    start = term.mark
    term.expect(f"{m}E1".encode(), timeout)
    out = term.output(start)
    out = out[: out.rfind(f"{m}E1".encode())]
    return out.decode(errors="replace").replace("\r\n", "\n")


def shell_echo(term, timeout=10.0):
    """Prove the shell in term is alive and taking our input."""
    m = marker()
    term.sendline(f"echo {m}$((6*7))")
    term.expect(f"{m}42".encode(), timeout)
