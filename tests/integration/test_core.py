"""Integration tests for issue 2, the supervisor core: a real daemon on a
private runtime dir, real clients in real PTYs, and raw frames on the
control socket."""

import configparser
import grp
import json
import os
import pwd
import random
import re
import resource
import select
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import termios
import time

import pytest

import harness as h
from harness import PROMPT, shell_echo, shell_run, wait_for

DETACH_KEY = b"\x1c"  # Ctrl-\


def one_line(text):
    """The single non-empty line of text; fails on none or several."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {text!r}"
    return lines[0]


def wait_clients(env, name, n, timeout=5.0):
    return wait_for(lambda: (s := env.session(name)) is not None and s["clients"] == n and s,
                    timeout, f"session {name} with {n} clients")


def shell_pid(term):
    m = h.marker()
    term.sendline(f"echo {m}PID:$(( $$ + 0 ))")
    return int(term.expect(rf"{m}PID:(\d+)", 10).group(1))


# ---------------------------------------------------------------------------
# attach, detach, reattach


def test_attach_detach_reattach_keeps_shell(env, daemon):
    work = env.root / "work dir"
    work.mkdir()
    a = env.attach("s")
    pid = shell_pid(a)
    shell_run(a, f"cd {shlex.quote(str(work))}; FOO=bar$((40+2))")
    a.send(DETACH_KEY)
    a.expect(rb"detached", 5)
    assert a.wait_exit(5) == 0
    s = wait_for(lambda: (s := env.session("s")) and s["state"] == "detached" and s, 5,
                 "session detached")
    assert s["pid"] == pid and s["clients"] == 0
    assert h.pid_running(pid), "the shell died on detach"

    b = env.attach("s", wait_prompt=False)
    out = shell_run(b, 'echo "P:$$ D:$PWD V:$FOO"')
    assert f"P:{pid} D:{work} V:bar42" in out, out
    b.send(DETACH_KEY)
    assert b.wait_exit(5) == 0


def test_attach_autostarts_daemon(env):
    assert not env.sock.exists()
    t = env.attach("auto")  # no daemon running: persh attach starts one
    shell_echo(t)
    dpid = wait_for(env.pidfile_daemon, 5, "a running daemon in the pid file")
    st = h.proc_stat(dpid)
    assert st["tty_nr"] == 0, "auto-started daemon kept the client's terminal"
    assert st["session"] != t.pid, "auto-started daemon is in the client's session"
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0
    # the daemon outlives the client that started it, and keeps the shell
    s = wait_for(lambda: (s := env.session("auto")) and s["state"] == "detached" and s, 5,
                 "session auto detached")
    assert h.pid_running(dpid)
    assert h.pid_running(s["pid"])


@pytest.mark.parametrize("cmd,status", [("exit 7", 7), ("exit 0", 0), ("kill -KILL $$", 137)])
def test_exit_status_propagates(env, daemon, cmd, status):
    t = env.attach("s")
    t.sendline(cmd)
    assert t.wait_exit(10) == status
    wait_for(lambda: env.session("s") is None, 5, "session gone after its shell exited")


# ---------------------------------------------------------------------------
# ls


def test_ls_json(env, daemon):
    p = env.persh("attach", "-d", "det")
    assert p.returncode == 0, p.err
    t = env.attach("att", rows=33, cols=101)
    pid = shell_pid(t)
    t0 = time.time()
    data = env.ls()
    rows = {s["name"]: s for s in data["sessions"]}
    assert set(rows) == {"det", "att"}
    att, det = rows["att"], rows["det"]
    assert att["state"] == "attached" and att["clients"] == 1
    assert (att["rows"], att["cols"]) == (33, 101)
    assert att["pid"] == pid
    assert att["exit_status"] is None
    assert det["state"] == "detached" and det["clients"] == 0
    assert h.pid_running(det["pid"]) and det["pid"] != pid
    for s in (att, det):
        assert abs(s["created"] - t0) < 60
        assert s["age_s"] >= 0 and s["idle_s"] >= 0
        assert set(s) >= {"name", "state", "clients", "rows", "cols", "pid", "created",
                          "age_s", "idle_s", "exit_status"}


def test_ls_table(env, daemon):
    assert env.persh("attach", "-d", "det").returncode == 0
    t = env.attach("att")
    pid = shell_pid(t)
    dpid = env.session("det")["pid"]
    p = env.persh("ls")
    assert p.returncode == 0, p.err
    lines = [ln for ln in p.out.splitlines() if ln.strip()]
    assert len(lines) == 3, p.out  # a header and two sessions
    att = [ln for ln in lines if re.match(r"\s*att\s", ln)]
    det = [ln for ln in lines if re.match(r"\s*det\s", ln)]
    assert len(att) == 1 and len(det) == 1, p.out
    assert "attached" in att[0] and re.search(rf"\b{pid}\b", att[0]), att[0]
    assert "detached" in det[0] and re.search(rf"\b{dpid}\b", det[0]), det[0]


def test_ls_empty(env, daemon):
    assert env.ls()["sessions"] == []


# ---------------------------------------------------------------------------
# kill and detach commands


def test_kill_session(env, daemon):
    t = env.attach("s")
    pid = shell_pid(t)
    p = env.persh("kill", "s")
    assert p.returncode == 0, p.err
    # SIGHUP kills bash: the client reports 128+SIGHUP
    assert t.wait_exit(5) == 128 + signal.SIGHUP
    wait_for(lambda: env.session("s") is None, 5, "session gone from ls")
    wait_for(lambda: h.proc_stat(pid) is None, 5, "shell reaped")


def test_kill_detached_session(env, daemon):
    assert env.persh("attach", "-d", "s").returncode == 0
    pid = env.session("s")["pid"]
    assert env.persh("kill", "s").returncode == 0
    wait_for(lambda: h.proc_stat(pid) is None, 5, "shell gone and reaped")
    s = env.session("s")
    assert s is None or s["state"] == "exited", s


def test_kill_missing(env, daemon):
    p = env.persh("kill", "missing")
    assert p.returncode == 1
    line = one_line(p.err)
    assert "missing" in line
    assert p.out == ""


def test_detach_command(env, daemon):
    t = env.attach("s")
    pid = shell_pid(t)
    p = env.persh("detach", "s")
    assert p.returncode == 0, p.err
    t.expect(rb"detached", 5)
    assert t.wait_exit(5) == 0
    s = env.session("s")
    assert s["state"] == "detached" and s["clients"] == 0 and s["pid"] == pid
    assert h.pid_running(pid)


# ---------------------------------------------------------------------------
# several clients


def test_two_clients_see_output(env, daemon):
    a = env.attach("s", tname="A")
    b = env.attach("s", wait_prompt=False, tname="B")
    wait_clients(env, "s", 2)
    m = h.marker()
    a.sendline(f"echo {m}A$((1+1))")
    a.expect(f"{m}A2".encode(), 5)
    b.expect(f"{m}A2".encode(), 5)
    b.sendline(f"echo {m}B$((2+2))")
    b.expect(f"{m}B4".encode(), 5)
    a.expect(f"{m}B4".encode(), 5)


def test_readonly_client_cannot_type(env, daemon):
    a = env.attach("s", tname="A")
    b = env.attach("s", "-r", wait_prompt=False, tname="B-ro")
    wait_clients(env, "s", 2)
    m = h.marker()
    a.sendline(f"echo {m}SEEN$((1+1))")
    b.expect(f"{m}SEEN2".encode(), 5)  # it sees output

    b.send(f"echo {m}RO$((3+3))\r")
    wait_for(lambda: b.input_pending() == 0, 5, "the read-only client to read its keystrokes")
    b.send(DETACH_KEY)  # sent after the keystrokes, on the same connection
    b.expect(rb"detached", 5)
    assert b.wait_exit(5) == 0
    shell_echo(a)  # the shell has taken everything written before this
    assert f"{m}RO6".encode() not in a.output(), "read-only keystrokes reached the shell"
    assert f"{m}RO".encode() not in a.output(), "read-only keystrokes were echoed by the shell"


def test_readonly_enforced_by_daemon(env, daemon):
    """A read-only attach cannot type even if the client sends INPUT."""
    a = env.attach("s", tname="A")
    r = env.raw()
    r.handshake()
    att = r.attach("s", flags=h.ATTACH_READONLY)
    assert "error" not in att, att
    m = h.marker()
    a.sendline(f"echo {m}SEEN$((1+1))")
    r.read_output(f"{m}SEEN2".encode())
    r.send(h.INPUT, f"echo {m}RAW$((3+3))\r".encode())
    r.send(h.RESIZE, struct.pack(">HH", 10, 20))
    r.send(h.DETACH)
    r.expect(h.DETACHED, skip=(h.HELLO, h.HEARTBEAT, h.OUTPUT))
    shell_echo(a)
    assert f"{m}RAW".encode() not in a.output(), "read-only INPUT reached the shell"
    assert shell_run(a, "stty size").split() == ["24", "200"], "read-only RESIZE took effect"


def test_window_size_follows_active_client(env, daemon):
    a = env.attach("s", rows=30, cols=100, tname="A")
    b = env.attach("s", rows=40, cols=120, wait_prompt=False, tname="B")
    wait_clients(env, "s", 2)
    assert "SZ 30 100" in shell_run(a, "echo SZ $(stty size)")
    assert "SZ 40 120" in shell_run(b, "echo SZ $(stty size)")
    assert "SZ 30 100" in shell_run(a, "echo SZ $(stty size)")
    s = env.session("s")
    assert (s["rows"], s["cols"]) == (30, 100)


def test_resize_follows_terminal(env, daemon):
    t = env.attach("s", rows=24, cols=80)
    t.resize(35, 90)

    def sized():
        return "SZ 35 90" in shell_run(t, "echo SZ $(stty size)")
    wait_for(sized, 5, "the shell to see 35x90")
    s = env.session("s")
    assert (s["rows"], s["cols"]) == (35, 90)


def test_stopped_client_does_not_slow_others(env):
    # only the output bound may drop A here, not a missed heartbeat
    env.set("heartbeat", "timeout", "60s")
    env.start_daemon()
    big = "head -c 20000000 /dev/zero | tr '\\0' x"
    b = env.attach("s", tname="B")

    def run_big(tag):
        b.set_mark()
        t0 = time.monotonic()
        b.sendline(f"{big}; echo {tag}$((1+1))")
        b.expect(f"{tag}2".encode(), 90)
        return time.monotonic() - t0

    baseline = run_big("BASE")

    a = env.term(env.argv("attach", "s"), name="A")
    a.wait_raw()
    wait_clients(env, "s", 2)
    m = h.marker()
    b.sendline(f"echo {m}$((5+5))")
    a.expect(f"{m}10".encode(), 5)
    os.kill(a.pid, signal.SIGSTOP)
    wait_for(lambda: h.proc_stat(a.pid)["state"] == "T", 5, "client A stopped")
    try:
        with_stopped = run_big("DONE")
        print(f"20 MB: {baseline:.2f}s alone, {with_stopped:.2f}s with A stopped")
        assert with_stopped < 3 * baseline + 2, \
            f"B took {with_stopped:.2f}s with A stopped vs {baseline:.2f}s alone"
        env.wait_log(rf"session s: client \d+ \(pid {a.pid}\) left behind", 5,
                     "a log line saying A was left behind")
    finally:
        os.kill(a.pid, signal.SIGCONT)
    # A reads again: repainted with the screen as it is now, still attached.
    a.expect(b"DONE2", 10)
    env.wait_log(rf"session s: client \d+ \(pid {a.pid}\) skipped \d+ bytes", 5)
    s = env.session("s")
    assert s is not None and s["clients"] == 2 and s["state"] == "attached"
    shell_echo(b)
    shell_echo(a)


def test_slower_client_is_skipped_ahead_not_dropped(env):
    """Three clients on a flood: F reads as fast as it can (and so sets the
    shell's pace), S reads steadily but slower, X reads nothing. F gets every
    byte in order; S, whenever it falls client_buffer behind, is skipped to
    the present with SKIPPED and a repaint, and is never cut off; X, which
    reads nothing, is left behind (at most one repaint queued for it) and
    repainted when it reads again."""
    env.set("heartbeat", "timeout", "60s")
    env.start_daemon()
    f, s, x = env.raw(), env.raw(), env.raw()
    for c in (f, s, x):
        c.handshake()
        c.attach("fl")
    f.read_output(rb"tsh\$ ")
    n = 1000000
    f.send(h.INPUT, b"seq 1 %d; echo EN''D\r" % n)
    f_off = None
    f_data = bytearray()
    s_skips = s_frames = s_bytes = 0
    s_tail = bytearray()
    end = h.deadline(60)
    while b"END\r\n" not in f_data[-64:] and time.monotonic() < end:
        # F: everything there is.
        for _ in range(16):
            f._fill(time.monotonic())
        while True:
            try:
                ftype, p = f.recv_frame(0)
            except h.Timeout:
                break
            assert ftype in (h.OUTPUT, h.HEARTBEAT), ftype
            if ftype == h.OUTPUT:
                off = struct.unpack(">Q", p[:8])[0]
                assert f_off is None or off == f_off, (off, f_off)
                f_off = off + len(p) - 8
                f_data += p[8:]
        # S: steadily, a quarter of what F takes (however fast the daemon).
        if s_bytes > len(f_data) / 4:
            select.select([f.sock], [], [], 0.002)
            continue
        if len(s.inbuf) < h.HEADER_LEN or \
                len(s.inbuf) < h.HEADER_LEN + struct.unpack(">I", s.inbuf[4:8])[0]:
            s._fill(time.monotonic())
        try:
            ftype, p = s.recv_frame(0)
            s_frames += 1
            s_bytes += len(p)
            assert ftype != h.DETACHED, h.parse_text(p)
            if ftype == h.SKIPPED:
                s_skips += 1
            elif ftype in (h.OUTPUT, h.REDRAW):
                s_tail = (s_tail + p)[-4096:]
        except h.Timeout:
            pass
        select.select([f.sock], [], [], 0.002)
    assert b"END\r\n" in f_data[-64:], "F did not see the end of the flood"
    nums = [int(x) for x in re.findall(rb"(?m)^(\d+)\r$", bytes(f_data))]
    assert nums == list(range(1, n + 1)), "F lost or reordered output"
    assert s_skips >= 1, f"S was never skipped ({s_frames} frames read)"
    # S catches up: the repaints and what follows show the end.
    s.read_output(rb"END\r\n", 10)
    env.wait_log(r"session fl: client \d+ \(pid \d+\) skipped \d+ bytes it could not keep "
                 r"up with \(repainted\)")
    # X: left behind, then repainted once it reads (the end is on screen).
    env.wait_log(r"session fl: client \d+ \(pid \d+\) left behind: it reads nothing")
    x.read_output(rb"END\r\n", 10)
    skips = sum(1 for t, _ in x.frames if t == h.SKIPPED)
    assert 1 <= skips <= 2, skips  # at most one while it read nothing
    f.send(h.INPUT, b"echo AF''TER\r")
    for c in (f, s, x):
        c.read_output(rb"AFTER\r\n", 10)
    ses = env.session("fl")
    assert ses["clients"] == 3, ses
    assert env.ls()["stats"]["too_slow"] == 0


# ---------------------------------------------------------------------------
# the control socket


def test_runtime_dir_and_socket_modes(env, daemon):
    assert stat.S_IMODE(os.stat(env.run).st_mode) == 0o700
    st = os.stat(env.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) & 0o077 == 0, oct(st.st_mode)
    assert int(env.pidfile.read_text().split()[0]) == daemon.pid


@pytest.fixture
def exposed(env):
    """A daemon whose runtime dir and socket were opened up to everyone
    after it started, a persh binary and config nobody can read, and the
    uid/gid of nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another uid")
    try:
        nobody = pwd.getpwnam("nobody")
        nogroup = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        pytest.skip("no nobody/nogroup")
    d = env.start_daemon()
    bindir = env.root / "bin"
    bindir.mkdir()
    binpath = bindir / "persh"
    shutil.copy2(h.persh_bin(), binpath)
    env.extra_binaries.append(str(binpath))
    os.chmod(binpath, 0o755)
    for p in (env.root, bindir, env.run):
        os.chmod(p, 0o755)
    os.chmod(env.cfg_path, 0o644)
    os.chmod(env.sock, 0o666)
    return d, str(binpath), nobody.pw_uid, nogroup


@pytest.mark.parametrize("cmd", [["ls"], ["attach", "-d", "x"]], ids=["ls", "attach-d"])
def test_other_uid_refused_cli(env, exposed, cmd):
    d, binpath, uid, gid = exposed
    p = subprocess.run(
        [binpath, cmd[0], "-c", str(env.cfg_path), *cmd[1:]],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=10 * h.SCALE,
        env=env.base_env(HOME="/nonexistent", PERSH_BIN=binpath),
        user=uid, group=gid, extra_groups=[], start_new_session=True)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0, f"persh {cmd[0]} as nobody succeeded: {p.stdout!r}"
    assert p.returncode > 0, f"persh {cmd[0]} as nobody died of signal {-p.returncode}"
    line = one_line(err)
    assert re.search(r"(?i)permission|denied|refused|another user|uid", line), \
        f"the refusal does not say why: {line!r}"
    env.wait_log(rf"uid {uid}\b", 5, "a log line naming the refused uid")
    assert d.alive()
    assert env.ls()["sessions"] == []


RAW_PEER = r"""
import json, socket, struct, sys, select, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(struct.pack(">HHI", 1, 0, 16) + struct.pack(">IHHII", 0x50525348, 1, 0, 1000, 0))
    s.sendall(struct.pack(">HHI", 14, 0, 4) + b"\0\0\0\0")
except OSError:
    pass
data = b""
end = time.monotonic() + float(sys.argv[2])
closed = False
while time.monotonic() < end:
    r, _, _ = select.select([s], [], [], 0.05)
    if r:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            closed = True
            break
        data += chunk
types = []
while len(data) >= 8:
    t, z, n = struct.unpack(">HHI", data[:8])
    types.append([t, data[8:8 + n].hex()])
    data = data[8 + n:]
print(json.dumps({"closed": closed, "frames": types}))
"""


def test_other_uid_refused_raw(env, exposed):
    """The daemon itself refuses another uid, whatever the client does."""
    d, _, uid, gid = exposed
    p = subprocess.run([sys.executable, "-c", RAW_PEER, str(env.sock), str(3 * h.SCALE)],
                       capture_output=True, timeout=10 * h.SCALE, user=uid, group=gid,
                       extra_groups=[], stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["closed"], f"connection from uid {uid} left open: {res}"
    types = [t for t, _ in res["frames"]]
    assert h.SESSION not in types and h.OK not in types, f"uid {uid} got an answer: {res}"
    for t, payload in res["frames"]:
        if t == h.ERROR:
            assert h.parse_text(bytes.fromhex(payload))[0] == h.E_PERM
    env.wait_log(rf"uid {uid}\b", 5, "a log line naming the refused uid")
    assert d.alive()


def _leave_stale_socket(path):
    """Bind a socket at path in a process that then exits, leaving the file."""
    p = subprocess.run([sys.executable, "-c",
                        "import os, socket, sys; s = socket.socket(socket.AF_UNIX);"
                        " s.bind(sys.argv[1]); print(os.getpid())", str(path)],
                       capture_output=True, check=True)
    return int(p.stdout)


@pytest.mark.parametrize("with_pidfile", [False, True], ids=["socket", "socket+pidfile"])
def test_stale_socket_replaced(env, with_pidfile):
    env.run.mkdir(mode=0o700)
    dead = _leave_stale_socket(env.sock)
    assert stat.S_ISSOCK(os.stat(env.sock).st_mode)
    assert not env.socket_connectable()
    if with_pidfile:
        env.pidfile.write_text(f"{dead}\n")
    d = env.start_daemon()
    assert d.alive()
    p = env.persh("attach", "-d", "s")
    assert p.returncode == 0, p.err
    assert env.session("s")["state"] == "detached"
    assert int(env.pidfile.read_text().split()[0]) == d.pid


def serve_once(env):
    """`persh serve -f` that is expected to refuse to start: (code, line)."""
    p = subprocess.run([h.persh_bin(), "serve", "-f", "-c", str(env.cfg_path)],
                       stdin=subprocess.DEVNULL, capture_output=True, env=env.base_env(),
                       timeout=10 * h.SCALE, start_new_session=True)
    err = p.stderr.decode(errors="replace")
    assert not h.sanitizer_reports(err, "persh serve")
    return p.returncode, one_line(err)


def test_runtime_dir_too_open_is_closed_at_start(env):
    env.run.mkdir(mode=0o755)
    os.chmod(env.run, 0o755)
    env.start_daemon()
    assert stat.S_IMODE(os.stat(env.run).st_mode) == 0o700
    env.wait_log(r"%s was mode 755; set it to 0700" % re.escape(str(env.run)))


def test_shell_gets_the_fd_limit_the_daemon_was_given(env):
    """The daemon raises its own soft fd limit to the hard one (a PTY and a
    socket per session); its shells get the soft limit back, as a login
    would give them (select() and close-every-fd loops rely on it)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = old[1]
    soft = min(1024, hard - 1)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        daemon = env.start_daemon()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    if not h.VALGRIND:  # valgrind keeps fds of its own and shows its limits
        limits = open(f"/proc/{daemon.pid}/limits").read()
        m = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.M)
        assert m and m.group(1) == m.group(2) == str(hard), m and m.group(0)
    t = env.attach("s")
    got = int(shell_run(t, "ulimit -Sn").strip())
    # valgrind counts its own reserved fds into what it hands on
    assert got == soft or (h.VALGRIND and soft <= got < soft + 64), got
    assert shell_run(t, "ulimit -Hn").strip() == str(hard)


def test_attached_says_created_only_to_the_attach_that_created(env, daemon):
    a, b = env.raw(), env.raw()
    for c in (a, b):
        c.handshake()
    assert a.attach("cr")["flags"] & 1, "the creating attach is not told CREATED"
    assert not b.attach("cr")["flags"] & 1, "a later attach is told CREATED"


def test_empty_log_means_auto(env):
    """`log =` (empty) is the default, auto: with -f, stderr."""
    env.set("daemon", "log", "")
    d = env.start_daemon()
    wait_for(lambda: "daemon started" in d.stderr(), 5, "the start line on stderr")
    assert re.search(r"^<6>\S+ persh\[%d\] info: persh \S+ daemon started" % d.pid,
                     d.stderr(), re.M), d.stderr()


def test_runtime_dir_symlink_refused(env):
    """A symlink in place of the runtime dir (someone else's, in a shared
    /tmp) is not followed."""
    real = env.root / "elsewhere"
    real.mkdir(mode=0o700)
    env.run.symlink_to(real)
    code, line = serve_once(env)
    assert code == 1, (code, line)
    assert str(env.run) in line and "refusing to use it" in line, line
    assert list(real.iterdir()) == [], "the daemon wrote into the symlink's target"


def test_runtime_dir_of_another_uid_refused(env):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown to another uid")
    env.run.mkdir(mode=0o700)
    os.chown(env.run, pwd.getpwnam("nobody").pw_uid, -1)
    code, line = serve_once(env)
    assert code == 1, (code, line)
    assert str(env.run) in line and "not a directory owned by uid 0" in line, line
    assert list(env.run.iterdir()) == []


def test_second_daemon_refused(env, daemon):
    ino = os.stat(env.sock).st_ino
    p = subprocess.run([h.persh_bin(), "serve", "-f", "-c", str(env.cfg_path)],
                       stdin=subprocess.DEVNULL, capture_output=True, env=env.base_env(),
                       timeout=10 * h.SCALE, start_new_session=True)
    assert p.returncode != 0
    assert "already running" in one_line(p.stderr.decode(errors="replace"))
    assert daemon.alive()
    assert os.stat(env.sock).st_ino == ino, "the second daemon replaced the socket"
    assert int(env.pidfile.read_text().split()[0]) == daemon.pid
    assert env.persh("attach", "-d", "s").returncode == 0
    assert env.session("s")["state"] == "detached"


# ---------------------------------------------------------------------------
# hostile or broken peers


def _garbage(r):
    rnd = random.Random(1234)
    data = bytearray(rnd.getrandbits(8) for _ in range(4096))
    data[2:4] = b"\x5a\xa5"  # a non-zero reserved field, so never a valid header
    r.send_raw(bytes(data))


def _oversized_first(r):
    r.send_raw(h.header(h.HELLO, 0x7FFFFFFF) + b"\0" * 16)


def _oversized_after_hello(r):
    r.hello()
    r.send_raw(h.header(h.INPUT, 0x7FFFFFFF) + b"x" * 100)


def _just_over_max(r):
    r.hello()
    r.send_raw(h.header(h.INPUT, h.MAX_PAYLOAD + 1) + b"x" * 100)


def _unknown_type(r):
    r.hello()
    r.send(0x7777)


def _daemon_only_type(r):
    r.hello()
    r.send(h.OUTPUT, struct.pack(">Q", 0) + b"hi")


def _bad_magic(r):
    r.hello(magic=0xDEADBEEF)


def _short_hello(r):
    r.send(h.HELLO, h.hello_payload()[:6])


def _malformed_attach(r):
    r.hello()
    r.send(h.ATTACH, struct.pack(">HHIQ", 24, 80, 1, 0) + b"\x40s")  # name runs past the end


def _version_mismatch(r):
    r.hello(version=99)


BAD_PEERS = {
    "garbage": _garbage,
    "oversized_first": _oversized_first,
    "oversized_after_hello": _oversized_after_hello,
    "just_over_max": _just_over_max,
    "unknown_type": _unknown_type,
    "daemon_only_type": _daemon_only_type,
    "bad_magic": _bad_magic,
    "short_hello": _short_hello,
    "malformed_attach": _malformed_attach,
    "version_mismatch": _version_mismatch,
}


def _vm_peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmPeak:"):
                return int(ln.split()[1])
    return 0


@pytest.mark.parametrize("case", list(BAD_PEERS))
def test_bad_peer_dropped_alone(env, case):
    # a long heartbeat timeout: only the bad frame may close the connection
    env.set("heartbeat", "timeout", "60s")
    d = env.start_daemon()
    t = env.attach("s")
    peak = _vm_peak_kb(d.pid)
    r = env.raw(heartbeat=None)
    BAD_PEERS[case](r)
    frames = r.wait_closed(3)
    errors = [h.parse_text(p) for ft, p in frames if ft == h.ERROR]
    others = [ft for ft, p in frames if ft not in (h.HELLO, h.HEARTBEAT, h.ERROR)]
    assert not others, f"unexpected frames before close: {others}"
    if case == "version_mismatch":
        assert errors and errors[0][0] == h.E_VERSION, \
            f"version mismatch should get ERROR(E_VERSION) before the close, got {errors}"
    env.wait_log(rf"\(pid {os.getpid()}\): (?!connected)", 3, "a log line about the dropped peer")
    assert d.alive()
    assert _vm_peak_kb(d.pid) - peak < 256 * 1024, "the daemon mapped >256 MB for one frame"
    shell_echo(t)
    assert env.session("s")["clients"] == 1
    # and a well-behaved newcomer is still served
    assert env.persh("ls").returncode == 0


@pytest.mark.parametrize("mode", ["no_hello", "hello", "attached"])
def test_silent_peer_heartbeat_timeout(env, daemon, mode):
    r = env.raw(heartbeat=None)
    t0 = time.monotonic()
    if mode != "no_hello":
        r.hello(hb_timeout_ms=1000)
        t0 = time.monotonic()
    if mode == "attached":
        att = r.attach("s")
        assert "error" not in att, att
        t0 = time.monotonic()
    r.wait_closed(3)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.8, f"dropped after {elapsed:.2f}s, before the 1s heartbeat timeout"
    env.wait_log(rf"\(pid {os.getpid()}\).*heartbeat_timeout", 3)
    assert daemon.alive()
    if mode == "attached":
        # lost without a detach: orphaned, with its hang-up clock running
        s = env.session("s")
        assert s["state"] == "orphaned" and s["clients"] == 0
        assert s["timeout_left_s"] is not None and s["timeout_left_s"] > 0


def test_heartbeating_peer_not_dropped(env, daemon):
    """A peer that sends heartbeats stays connected past the timeout."""
    r = env.raw(heartbeat=0.2)
    r.handshake(hb_timeout_ms=1000)
    att = r.attach("s")
    assert "error" not in att, att
    end = h.deadline(2.5)
    while time.monotonic() < end:
        try:
            ft, p = r.recv_frame(0.1)
            assert ft in (h.OUTPUT, h.HEARTBEAT), ft
        except h.Timeout:
            pass
    assert not r.closed
    assert env.session("s")["clients"] == 1


# ---------------------------------------------------------------------------
# configuration

BASE_CFG = "[daemon]\nruntime_dir = {run}\nlog = stderr\n\n"  # 4 lines

BAD_CONFIGS = {
    # name: (text after BASE_CFG, acceptable line numbers)
    "unknown_section": ("[bogus]\nfoo = 1\n", {5, 6}),
    "unknown_key": ("[daemon]\nbogus_key = 1\n", {6}),
    "bad_duration": ("[heartbeat]\ninterval = fast\n", {6}),
    "bad_size": ("[session]\nscrollback = 12Q\n", {6}),
    "bad_loglevel": ("[daemon]\nlog_level = loud\n", {6}),
    "bad_name": ("[session]\ndefault = a/b\n", {6}),
    "bad_uint": ("[session]\nmax_sessions = -3\n", {6}),
    "relative_shell": ("[session]\nshell = bin/sh\n", {6}),
    "not_ini": ("this is not ini\n", {5}),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_line(env, case):
    text, lines = BAD_CONFIGS[case]
    bad = env.root / "bad.ini"
    bad.write_text(BASE_CFG.format(run=env.run) + text)
    p = subprocess.run([h.persh_bin(), "serve", "-f", "-c", str(bad)], stdin=subprocess.DEVNULL,
                       capture_output=True, env=env.base_env(), timeout=10 * h.SCALE,
                       start_new_session=True)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 2, f"exit {p.returncode}, stderr {err!r}"
    line = one_line(err)
    assert str(bad) in line, line
    nums = {int(n) for n in re.findall(rf"{re.escape(str(bad))}:(\d+)", line)}
    nums |= {int(n) for n in re.findall(r"line (\d+)", line)}
    assert nums & lines, f"expected line {sorted(lines)} in {line!r}"
    assert not env.sock.exists(), "a socket was created for a bad configuration"


def test_config_cross_check(env):
    env.set("heartbeat", "interval", "1s")
    env.set("heartbeat", "timeout", "1500ms")  # less than twice the interval
    p = subprocess.run([h.persh_bin(), "serve", "-f", "-c", str(env.cfg_path)],
                       stdin=subprocess.DEVNULL, capture_output=True, env=env.base_env(),
                       timeout=10 * h.SCALE, start_new_session=True)
    assert p.returncode == 2
    assert "timeout" in one_line(p.stderr.decode(errors="replace"))
    assert not env.sock.exists()


def test_missing_config_file(env):
    missing = env.root / "nope.ini"
    p = subprocess.run([h.persh_bin(), "serve", "-f", "-c", str(missing)],
                       stdin=subprocess.DEVNULL, capture_output=True, env=env.base_env(),
                       timeout=10 * h.SCALE, start_new_session=True)
    assert p.returncode == 2
    assert str(missing) in one_line(p.stderr.decode(errors="replace"))


def _parse_ini(text):
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"),
                                   comment_prefixes=("#", ";"))
    cp.read_string(text)
    return cp


def test_serve_T_prints_effective_config(env):
    env.set("session", "max_sessions", "77")
    p = subprocess.run([h.persh_bin(), "serve", "-T", "-c", str(env.cfg_path)],
                       stdin=subprocess.DEVNULL, capture_output=True, env=env.base_env(),
                       timeout=10 * h.SCALE)
    assert p.returncode == 0, p.stderr
    cp = _parse_ini(p.stdout.decode())
    assert cp["session"]["max_sessions"] == "77"
    assert cp["heartbeat"]["interval"] == "200ms"
    assert cp["heartbeat"]["timeout"] == "1s"
    assert cp["session"]["stall_timeout"] == "500ms"
    assert cp["daemon"]["runtime_dir"] == str(env.run)
    assert cp["session"]["client_buffer"] == "1M"  # a default
    assert not env.sock.exists(), "serve -T started a daemon"
    # the dump is itself a valid configuration that says the same
    dump = env.root / "dump.ini"
    dump.write_bytes(p.stdout)
    q = subprocess.run([h.persh_bin(), "serve", "-T", "-c", str(dump)], stdin=subprocess.DEVNULL,
                       capture_output=True, env=env.base_env(), timeout=10 * h.SCALE)
    assert q.returncode == 0, q.stderr
    assert {s: dict(cp[s]) for s in cp.sections()} == \
        {s: dict(v) for s, v in _parse_ini(q.stdout.decode()).items() if s != "DEFAULT"}


# ---------------------------------------------------------------------------
# the client


def test_attach_self_refused(env, daemon):
    t = env.attach("s")
    cmd = shlex.join(env.argv("attach", "s"))
    out = shell_run(t, f"{cmd}; echo RC:$?")
    m = re.search(r"RC:(\d+)", out)
    assert m and m.group(1) != "0", out
    msg = out[: m.start()].strip()
    assert re.search(r"(?i)itself|inside|nested", msg), f"unclear refusal: {msg!r}"
    assert len([ln for ln in msg.splitlines() if ln.strip()]) == 1, msg
    # the session and the outer client are unharmed; other commands work inside
    ls = shell_run(t, f"{shlex.join(env.argv('ls'))}; echo RC:$?")
    assert "RC:0" in ls and re.search(r"^\s*s\s", ls, re.M), ls
    assert env.session("s")["clients"] == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_terminal_restored_on_signal(env, daemon, sig):
    script = f"{shlex.join(env.argv('attach', 's'))}; echo AFTER$((1+1)); stty -a"
    t = env.term(["sh", "-c", script])
    t.wait_raw()
    t.expect(PROMPT, 10)
    client = wait_for(lambda: [p for p in h.children(t.pid)
                               if h.proc_exe(p) == h.persh_bin()], 5, "the persh client")[0]
    lflag = t.termios()[3]
    assert not lflag & termios.ICANON and not lflag & termios.ECHO, "client is not in raw mode"
    os.kill(client, sig)
    t.expect(b"AFTER2", 5)
    start = t.mark
    t.wait_exit(5)
    out = t.output(start).decode(errors="replace")
    assert re.search(r"(?<![-\w])icanon\b", out), out
    assert re.search(r"(?<![-\w])echo(?=\s)", out), out
    assert "-icanon" not in out and not re.search(r"-echo(?=\s)", out), out
    # the client died without detaching: the session is orphaned, not killed
    wait_for(lambda: (s := env.session("s")) and s["state"] == "orphaned", 5,
             "session orphaned, not killed, after the client died")


@pytest.mark.parametrize("name", ["host/a/b", "x" * 65, "a b", "caf\u00e9", ""],
                         ids=["slash", "65chars", "space", "nonascii", "empty"])
def test_invalid_session_name_refused(env, daemon, name):
    t = env.term(env.argv("attach", name), separate_stderr=True)
    rc = t.wait_exit(5)
    assert rc in (1, 2), f"exit {rc}"
    line = one_line(t.stderr_text())
    # "host/a/b" reads as HOST/NAME with a bad host: a bad target
    assert "name" in line.lower() or "target" in line.lower(), line
    assert env.ls()["sessions"] == []
    p = env.persh("kill", name)
    assert p.returncode in (1, 2)
    one_line(p.err)


def test_64_char_name_accepted(env, daemon):
    name = "y" * 64
    p = env.persh("attach", "-d", name)
    assert p.returncode == 0, p.err
    assert env.session(name)["state"] == "detached"


# ---------------------------------------------------------------------------
# beyond the list: sessions without clients, the shell's world, limits


def test_exited_session_kept_until_seen(env, daemon):
    t = env.attach("s")
    pid = shell_pid(t)
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0
    os.kill(pid, signal.SIGKILL)  # the shell dies while nobody is attached
    s = wait_for(lambda: (s := env.session("s")) and s["state"] == "exited" and s, 5,
                 "session shown as exited")
    assert s["exit_status"] == 128 + signal.SIGKILL
    u = env.term(env.argv("attach", "s"))
    assert u.wait_exit(5) == 128 + signal.SIGKILL, "attach did not report the status it missed"
    assert b"137" in u.output()
    wait_for(lambda: env.session("s") is None, 5, "session removed once its status was seen")


def test_detached_shell_never_blocks(env, daemon):
    done = env.root / "done"
    t = env.attach("s")
    t.sendline(f"head -c 20000000 /dev/zero | tr '\\0' y; touch {done}")
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0
    wait_for(done.exists, 30, "the detached shell to finish writing 20 MB")
    assert env.session("s")["state"] == "detached"


def test_session_environment(env, daemon):
    t = env.term(env.argv("attach", "s"), env=env.base_env(TERM="screen-256color"))
    t.wait_raw()
    t.expect(PROMPT)
    out = shell_run(t, 'echo "E:$PERSH_SESSION|$TERM|$PWD|$HOME"')
    m = re.search(r"E:(.*)\|(.*)\|(.*)\|(.*)", out)
    assert m, out
    assert m.group(1, 2) == ("s", "screen-256color"), out
    # it starts in its home directory (the daemon takes it from passwd, not
    # from its own $HOME; see the report)
    assert m.group(3) == m.group(4) and os.path.isdir(m.group(3)), out


def test_shell_inherits_no_daemon_fds(env, daemon):
    t = env.attach("s")
    fds = {int(x) for x in shell_run(t, "ls /proc/$$/fd").split()}
    # 0-2 are the terminal; bash keeps its own copy of it on 255
    assert fds <= {0, 1, 2, 255}, f"the shell inherited fds {sorted(fds - {0, 1, 2, 255})}"
    links = shell_run(t, "readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2").split()
    assert len(set(links)) == 1 and links[0].startswith("/dev/pts/"), links


def test_shell_exec_failure(env):
    env.set("session", "shell", str(env.root / "no-such-shell"))
    d = env.start_daemon()
    t = env.term(env.argv("attach", "s"), separate_stderr=True)
    assert t.wait_exit(5) == 1
    line = one_line(t.stderr_text())
    assert re.search(r"(?i)shell|no-such-shell|start", line), line
    assert env.ls()["sessions"] == []
    assert d.alive()


def test_max_sessions(env):
    env.set("session", "max_sessions", "2")
    env.start_daemon()
    assert env.persh("attach", "-d", "a").returncode == 0
    assert env.persh("attach", "-d", "b").returncode == 0
    p = env.persh("attach", "-d", "c")
    assert p.returncode == 1, f"exit {p.returncode}: {p.err!r}"
    assert re.search(r"(?i)too many|max", one_line(p.err))
    assert sorted(s["name"] for s in env.ls()["sessions"]) == ["a", "b"]


def test_default_session_name(env):
    env.set("session", "default", "dflt")
    env.start_daemon()
    p = env.persh("attach", "-d")
    assert p.returncode == 0, p.err
    assert [s["name"] for s in env.ls()["sessions"]] == ["dflt"]


def test_detach_key_configurable(env):
    env.set("client", "detach_key", "^A")
    env.start_daemon()
    t = env.attach("s")
    t.send(b"\x1c")  # the default key now goes to the shell (bash ignores it)
    shell_echo(t)
    assert t.alive()
    t.send(b"\x01")
    t.expect(rb"detached", 5)
    assert t.wait_exit(5) == 0


def test_client_detects_silent_daemon(env, daemon):
    t = env.attach("s")
    t0 = time.monotonic()
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        rc = t.wait_exit(5)
        elapsed = time.monotonic() - t0
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    assert rc == 3, f"exit {rc}"
    assert 0.8 <= elapsed <= 3.0, f"client gave up after {elapsed:.2f}s with a 1s timeout"
    assert b"heartbeat" in t.output()
    # the session outlives the client (orphaned: the client was lost)
    wait_for(lambda: (s := env.session("s")) and s["state"] == "orphaned", 5, "session orphaned")


def _ctx_switches(pid):
    n = 0
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if "ctxt_switches" in ln:
                n += int(ln.split()[1])
    return n


def test_idle_daemon_makes_no_wakeups(env, daemon):
    t = env.attach("s")
    shell_echo(t)
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0
    env.wait_log(r"closed: detached")
    # The detach itself causes a few one-shot wake-ups (the screen emulator
    # catching up and folding into a snapshot): wait until the daemon has
    # been still for 300 ms, then watch it.
    last = [_ctx_switches(daemon.pid), time.monotonic()]

    def still():
        now = _ctx_switches(daemon.pid)
        if now != last[0]:
            last[:] = [now, time.monotonic()]
        return time.monotonic() - last[1] >= 0.3

    wait_for(still, 5, "the daemon to settle after the detach", interval=0.05)
    before = _ctx_switches(daemon.pid)
    h.select.select([], [], [], 1.5)  # an observation window, not a synchronisation
    woke = _ctx_switches(daemon.pid) - before
    # a heartbeat timer left running would wake it every 200 ms (7+ times)
    assert woke <= 1, f"idle daemon with a detached session woke {woke} times in 1.5 s"


def test_sighup_reloads_config(env, daemon):
    env.set("session", "term", "dumb")
    os.kill(daemon.pid, signal.SIGHUP)
    env.wait_log(r"reloaded")
    t = env.attach("new1")
    assert "T:dumb" in shell_run(t, "echo T:$TERM")
    # a bad file on reload is reported; the old configuration stays
    good = env.root / "client.ini"
    shutil.copy(env.cfg_path, good)  # clients keep reading a good file
    with open(env.cfg_path, "a") as f:
        f.write("[daemon]\nbogus_key = 1\n")
    bad_line = env.config_text().count("\n") + 2
    os.kill(daemon.pid, signal.SIGHUP)
    env.wait_log(rf"{re.escape(str(env.cfg_path))}:{bad_line}\b")
    assert daemon.alive()
    u = env.term([h.persh_bin(), "attach", "-c", str(good), "new2"])
    u.wait_raw()
    u.expect(PROMPT)
    assert "T:dumb" in shell_run(u, "echo T:$TERM")
