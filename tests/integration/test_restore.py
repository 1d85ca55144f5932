"""Screen restore and lossless resume (issue 3): exact resume by byte
offset, redraw from the daemon's terminal emulator when that is impossible,
and the application repainting at a new size. Terminals here are real:
tmux, with a private socket, is the outer terminal of persh clients, and
`tmux capture-pane` reads what each client's terminal shows."""

import os
import re
import shutil
import struct
import subprocess
import time

import pytest

import harness as h
from harness import ATTACH_RESUME, OUTPUT, REDRAW, wait_for

FSAPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fsapp.py")
ATTACHED_RESUMED, ATTACHED_REPLAY, ATTACHED_REDRAW = 0x2, 0x4, 0x8

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """A private tmux server whose panes are the outer terminals."""

    def __init__(self, env):
        self.env = env
        self.sock = str(env.root / "tmux.sock")
        self.pid = None

    def run(self, *args, check=True):
        p = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, env=self.env.base_env(),
                           timeout=10 * h.SCALE)
        if check:
            assert p.returncode == 0, f"tmux {args}: {p.stderr}"
        return p.stdout

    def client(self, name, rows, cols, *persh_args):
        cmd = " ".join([h.persh_bin(), "-c", str(self.env.cfg_path), "attach", *persh_args])
        self.run("new-session", "-d", "-s", name, "-x", str(cols), "-y", str(rows), cmd)
        self.run("set-option", "-t", name, "status", "off")
        self.run("set-option", "-t", name, "remain-on-exit", "on")
        if self.pid is None:
            self.pid = int(self.run("display", "-p", "#{pid}").strip())

    def capture(self, name):
        return self.run("capture-pane", "-p", "-e", "-t", name)

    def text(self, name):
        return self.run("capture-pane", "-p", "-t", name)

    def state(self, name):
        fmt = ("#{cursor_x},#{cursor_y} flag:#{cursor_flag} alt:#{alternate_on} "
               "kcur:#{keypad_cursor_flag} kp:#{keypad_flag} mouse:#{mouse_any_flag}"
               "/#{mouse_button_flag}/#{mouse_standard_flag}/#{mouse_sgr_flag} "
               "ins:#{insert_flag} wrap:#{wrap_flag} origin:#{origin_flag} "
               "title:#{pane_title}")
        return self.run("display", "-p", "-t", name, fmt).strip()

    def keys(self, name, *keys):
        self.run("send-keys", "-t", name, *keys)

    def wait_text(self, name, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.text(name)), timeout,
                        f"{pattern!r} on tmux pane {name}")

    def close(self):
        self.run("kill-server", check=False)
        if self.pid is not None:
            h.reap_list({(self.pid, (h.proc_stat(self.pid) or {}).get("starttime"))}, "tmux")


@pytest.fixture
def tmux(env):
    t = Tmux(env)
    yield t
    t.close()


def test_redraw_matches_what_an_attached_client_shows(env, daemon, tmux):
    tmux.client("A", 30, 100, "s")
    tmux.wait_text("A", r"tsh\$")
    tmux.keys("A", f"/usr/bin/python3 {FSAPP}", "Enter")
    tmux.wait_text("A", r"status: 30x100")
    # B attaches fresh at the same size: no resize, so what it shows comes
    # only from the daemon's redraw
    tmux.client("B", 30, 100, "s")
    wait_for(lambda: tmux.capture("B") == tmux.capture("A"), 10,
             "client B's screen (cells and colours) to equal client A's")
    assert tmux.state("B") == tmux.state("A")
    st = tmux.state("B")
    assert "alt:1" in st and "kcur:1" in st and "title:fsapp title" in st, st
    assert "mouse:1" in st or "/1/" in st, st
    env.wait_log(r"session s: client \d+ \(pid \d+\) attached, redrawn")


def test_reattach_at_another_size_repaints(env, daemon, tmux):
    tmux.client("A", 30, 100, "s")
    tmux.wait_text("A", r"tsh\$")
    tmux.keys("A", f"/usr/bin/python3 {FSAPP}", "Enter")
    tmux.wait_text("A", r"status: 30x100")
    tmux.keys("A", "C-\\")
    wait_for(lambda: (s := env.session("s")) and s["clients"] == 0, 5, "A detached")
    tmux.client("B", 20, 60, "s")
    tmux.wait_text("B", r"SIZE=20x60")
    tmux.wait_text("B", r"status: 20x60")
    s = env.session("s")
    assert (s["rows"], s["cols"]) == (20, 60)


def test_query_answers_reach_the_application_once(env, daemon, tmux):
    replies = env.root / "replies"
    tmux.client("A", 24, 80, "s")
    tmux.wait_text("A", r"tsh\$")
    tmux.keys("A", f"/usr/bin/python3 {FSAPP} {replies}", "Enter")
    wait_for(lambda: replies.exists() and replies.read_text() != "", 10, "the app's count")
    # tmux (the real terminal) answered; the daemon's emulator must not have
    assert replies.read_text() == "1", replies.read_text()


def numbered_stream(r, upto, timeout=15.0):
    """Collect OUTPUT frames until `upto` is seen; returns (start, bytes)."""
    data, start = bytearray(), None
    end = h.deadline(timeout)
    while upto not in data:
        ftype, p = r.expect((OUTPUT, REDRAW), max(0.0, (end - time.monotonic()) / h.SCALE))
        if ftype == OUTPUT:
            off = struct.unpack(">Q", p[:8])[0]
            if start is None:
                start = off
            assert off == start + len(data), f"gap or repeat at offset {off}"
            data += p[8:]
    return start, bytes(data)


def test_exact_resume_across_several_detaches(env, daemon):
    obs = env.raw()
    obs.handshake()
    obs.attach("s")
    # The printer runs in the session; a second client comes and goes.
    obs.send(h.INPUT, b"for i in $(seq 1 3000); do echo N$i; done; echo END-OF-RUN$((1+1))\r")
    got = bytearray()
    offset = None
    for round in range(5):
        r = env.raw()
        r.handshake()
        if offset is None:
            att = r.attach("s")
            offset = att["offset"]
            first = offset
        else:
            att = r.attach("s", flags=ATTACH_RESUME, offset=offset)
            assert att["flags"] & ATTACHED_RESUMED, att
            assert att["offset"] == offset
        # read a little, then vanish without a detach
        want = 2000 + round * 3000
        while len(got) < want and b"END-OF-RUN2\r\n" not in got:
            ftype, p = r.expect((OUTPUT, REDRAW), 10)
            if ftype == OUTPUT:
                off = struct.unpack(">Q", p[:8])[0]
                assert off == offset, f"expected offset {offset}, got {off}"
                got += p[8:]
                offset += len(p) - 8
        r.close()
    r = env.raw()
    r.handshake()
    att = r.attach("s", flags=ATTACH_RESUME, offset=offset)
    assert att["flags"] & ATTACHED_RESUMED
    while b"END-OF-RUN2\r\n" not in got:
        ftype, p = r.expect((OUTPUT, REDRAW), 10)
        if ftype == OUTPUT:
            got += p[8:]
    # what the observer saw from the same offset on, byte for byte
    seen = bytearray()
    while True:
        ftype, p = obs.expect((OUTPUT, REDRAW), 10)
        if ftype != OUTPUT:
            continue
        off = struct.unpack(">Q", p[:8])[0]
        if off + len(p) - 8 <= first:
            continue
        seen += p[8 + max(0, first - off):]
        if len(seen) >= len(got):
            break
    assert bytes(seen[: len(got)]) == bytes(got)
    nums = [int(m) for m in re.findall(rb"(?<=\n)N(\d+)\r\n", bytes(got))]
    assert nums, bytes(got[:300])
    assert nums == list(range(nums[0], 3001)), "a gap or a repeat in the resumed output"


def test_offset_gone_from_the_ring_gets_a_redraw(env):
    env.set("session", "scrollback", "8K")
    env.set("session", "client_buffer", "8K")
    env.start_daemon()
    r = env.raw()
    r.handshake()
    att = r.attach("s")
    r.read_output(rb"tsh\$ ")
    r.send(h.INPUT, b"echo MARK$((1+1))\r")
    r.read_output(rb"MARK2")
    old = att["offset"]
    r.close()
    drive = env.raw()
    drive.handshake()
    drive.attach("s")
    drive.send(h.INPUT, b"seq 1 20000; echo DONE$((1+1))\r")
    drive.read_output(rb"DONE2", 15)
    r = env.raw()
    r.handshake()
    att = r.attach("s", flags=ATTACH_RESUME, offset=old)
    assert att["flags"] & ATTACHED_REDRAW and not att["flags"] & ATTACHED_RESUMED, att
    redraw = r.read_output(rb"DONE2")
    assert b"20000" in redraw, "the redraw shows the current screen"


def test_restore_modes(env):
    env.set("session", "restore", "replay")
    env.start_daemon()
    r = env.raw()
    r.handshake()
    r.attach("s")
    r.send(h.INPUT, b"echo REPLAYED$((1+1))\r")
    r.read_output(rb"REPLAYED2")
    r.close()
    r = env.raw()
    r.handshake()
    att = r.attach("s")
    assert att["flags"] & ATTACHED_REPLAY and att["offset"] == 0, att
    assert b"REPLAYED2" in r.read_output(rb"REPLAYED2")
    r.close()
    env.daemons[-1].stop()
    env.set("session", "restore", "none")
    env.start_daemon()
    r = env.raw()
    r.handshake()
    r.attach("t")
    r.send(h.INPUT, b"echo LIVE$((1+1))\r")
    r.read_output(rb"LIVE2")
    r.close()
    r = env.raw()
    r.handshake()
    att = r.attach("t")
    assert att["flags"] & (ATTACHED_REPLAY | ATTACHED_REDRAW | ATTACHED_RESUMED) == 0, att
    r.send(h.INPUT, b"echo NEW$((1+1))\r")
    out = r.read_output(rb"NEW2")
    assert b"LIVE2" not in out, "restore = none sends no earlier output"
