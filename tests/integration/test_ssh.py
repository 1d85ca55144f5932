"""Integration tests for the embedded SSH endpoint (issue 4): a daemon with
[ssh] listen on a free loopback port, a host key and an authorized_keys file
in the test's temp dir, and the stock OpenSSH client (no ~/.ssh touched)."""

import json
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

import harness as h
import sshutil
from harness import PROMPT, shell_echo, shell_run, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "faultproxy"))
from faultproxy import FaultProxy  # noqa: E402

DETACH_KEY = b"\x1c"  # Ctrl-\


@pytest.fixture
def make_ssh(env):
    made = []

    def make(**settings):
        s = sshutil.SSH(env, **settings)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def ssh(make_ssh):
    """The endpoint with the default test settings, daemon running."""
    s = make_ssh()
    s.start_daemon()
    return s


def wait_session(env, name, pred=lambda s: True, timeout=5.0, what=None):
    return wait_for(lambda: (s := env.session(name)) is not None and pred(s) and s, timeout,
                    what or f"session {name}")


def stats(env):
    return env.ls()["stats"]


def peer_rx(port=None):
    """Log prefix of a connection from 127.0.0.1 (from port, if known)."""
    return r"ssh 127\.0\.0\.1:" + (str(port) if port is not None else r"\d+") + ": "


# ---------------------------------------------------------------------------
# interactive


def test_shell_attaches_default_session_and_detach_key(env, ssh):
    t = ssh.term()
    t.expect(PROMPT, 10)
    shell_echo(t)
    s = wait_session(env, "main", lambda s: s["clients"] == 1)
    assert s["state"] == "attached"
    t.send(DETACH_KEY)
    t.expect(b"\r\n[persh: detached from main]\r\n", 5)
    assert t.wait_exit(5) == 0
    s = wait_session(env, "main", lambda s: s["state"] == "detached", what="main detached")
    assert h.pid_running(s["pid"]), "the shell died on detach"
    env.wait_log(peer_rx() + r"authenticated \(ssh-ed25519 SHA256:\S+\) as user ")


def test_attach_named_session_with_t(env, ssh):
    t = ssh.term("attach", "work")
    t.expect(PROMPT, 10)
    out = shell_run(t, 'echo "S:$PERSH_SESSION"')
    assert "S:work" in out, out
    wait_session(env, "work", lambda s: s["clients"] == 1)
    assert env.session("main") is None
    # A second connection to the same session shares the shell.
    u = ssh.term("attach", "work")
    u.expect(PROMPT, 10)
    wait_session(env, "work", lambda s: s["clients"] == 2)
    u.send(DETACH_KEY)
    assert u.wait_exit(5) == 0
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0


def test_persh_session_sent_with_setenv(env, ssh):
    t = ssh.term(opts=("-o", "SetEnv=PERSH_SESSION=fromenv LANG=C"))
    t.expect(PROMPT, 10)
    assert "S:fromenv" in shell_run(t, 'echo "S:$PERSH_SESSION"')
    assert env.session("fromenv") is not None and env.session("main") is None
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0


def test_shell_exit_status_is_ssh_exit_status(env, ssh):
    t = ssh.term("attach", "ex")
    t.expect(PROMPT, 10)
    t.sendline("exit 7")
    assert t.wait_exit(10) == 7
    # The status was seen by a client: the next attach starts a new shell.
    wait_for(lambda: env.session("ex") is None, 5, "session ex removed")


def test_window_change_resizes_session(env, ssh):
    t = ssh.term("attach", "win", rows=24, cols=100)
    t.expect(PROMPT, 10)
    assert "24 100" in shell_run(t, "stty size")
    t.resize(30, 120)
    wait_for(lambda: "30 120" in shell_run(t, "stty size"), 5, "stty size 30 120")
    s = env.session("win")
    assert (s["rows"], s["cols"]) == (30, 120)
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0


def test_attach_needs_a_terminal(env, ssh):
    p = ssh.run("attach", "x")
    assert p.returncode == 2, (p.returncode, p.err)
    assert p.err.strip() == "persh: attach needs a terminal (use ssh -t)"
    p = ssh.run(tty="T")  # a shell without a pty
    assert p.returncode == 2, (p.returncode, p.err)
    assert "needs a terminal" in p.err
    assert env.session("x") is None and env.session("main") is None


# ---------------------------------------------------------------------------
# commands


def normalise_ls(text):
    """persh ls's table with the AGE and IDLE columns blanked (they tick)."""
    return [re.sub(r"\s+\S+\s+\S+$", " - -", ln) for ln in text.splitlines()]


def test_ls_like_local_ls(env, ssh):
    p = ssh.run("ls")
    assert (p.returncode, p.out, p.err) == (0, "no sessions\n", "")
    for name in ("alpha", "beta"):
        assert env.persh("attach", "-d", name).returncode == 0
    local = env.persh("ls")
    remote = ssh.run("ls")
    assert remote.returncode == 0, remote.err
    assert normalise_ls(remote.out) == normalise_ls(local.out), (remote.out, local.out)
    assert re.search(r"^alpha\s+detached", remote.out, re.M), remote.out

    j = ssh.run("ls", "--json")
    assert j.returncode == 0, j.err
    data = json.loads(j.out)
    assert sorted(s["name"] for s in data["sessions"]) == ["alpha", "beta"]
    assert set(data["stats"]) == set(env.ls()["stats"])
    # `persh` in front is accepted too (the command line for a stock sshd).
    assert ssh.run("persh", "ls").returncode == 0

    bad = ssh.run("ls", "--yaml")
    assert bad.returncode == 2 and "usage" in bad.err, bad.err


def test_kill_and_detach(env, ssh):
    p = ssh.run("kill", "nope")
    assert p.returncode == 1 and p.err.strip() == "persh: no session named 'nope'", p.err
    p = ssh.run("detach", "nope")
    assert p.returncode == 1 and p.err.strip() == "persh: no session named 'nope'", p.err
    p = ssh.run("kill", "bad/name")
    assert p.returncode == 2 and "invalid session name" in p.err, p.err

    a = env.attach("d")
    p = ssh.run("detach", "d")
    assert (p.returncode, p.out, p.err) == (0, "", "")
    a.expect(b"[persh: detached from d]", 5)
    assert a.wait_exit(5) == 0

    pid = env.session("d")["pid"]
    p = ssh.run("kill", "d")
    assert (p.returncode, p.err) == (0, ""), p.err
    wait_for(lambda: h.proc_stat(pid) is None, 5, "shell of d gone and reaped")
    s = env.session("d")
    assert s is None or s["state"] == "exited", s


def test_unknown_command(env, ssh):
    p = ssh.run("frobnicate", "now")
    assert p.returncode == 2
    assert p.err.strip() == ("persh: unknown command 'frobnicate' (use: attach NAME, ls [--json], "
                             "kill NAME, detach NAME, bridge NAME)"), p.err
    env.wait_log(peer_rx() + "unknown command 'frobnicate'")


def test_bridge_speaks_frames(env, ssh):
    b = ssh.bridge("br")
    hello = b.handshake(hb_timeout_ms=1000)
    assert hello["magic"] == h.MAGIC and hello["version"] == h.VERSION
    a = b.attach("br", rows=30, cols=90)
    assert a.get("name") == "br", a
    b.read_output(re.escape(PROMPT), 10)
    b.send(h.INPUT, b"echo br$((40+2))\r")
    b.read_output(rb"br42", 5)
    s = wait_session(env, "br", lambda s: s["clients"] == 1)
    assert (s["rows"], s["cols"]) == (30, 90)
    b.send(h.DETACH)
    ftype, p = b.expect(h.DETACHED, 5, skip=(h.HELLO, h.HEARTBEAT, h.OUTPUT))
    assert h.parse_text(p)[0] == 1  # requested
    # The daemon closes; the endpoint ends the channel with status 0.
    assert b.proc.wait(5 * h.SCALE) == 0
    wait_session(env, "br", lambda s: s["state"] == "detached")


def test_bridge_lost_client_orphans(env, ssh):
    b = ssh.bridge("bo")
    b.handshake(hb_timeout_ms=1000)
    b.attach("bo")
    b.read_output(re.escape(PROMPT), 10)
    b.end_input()  # the remote client goes away without a detach
    assert b.proc.wait(5 * h.SCALE) == 0
    wait_session(env, "bo", lambda s: s["state"] == "orphaned", what="bo orphaned")


# ---------------------------------------------------------------------------
# keys and limits


def test_wrong_key_refused(env, ssh):
    other = sshutil.keygen(ssh.dir / "other")
    p = ssh.run("ls", key=other)
    assert p.returncode == 255, (p.returncode, p.out, p.err)
    assert "Permission denied (publickey)" in p.err, p.err
    fp = sshutil.fingerprint(str(other) + ".pub")
    env.wait_log(peer_rx() + r"public key refused \(ssh-ed25519 " + re.escape(fp) + r"\)")
    assert "authenticated" not in env.log_text()


def test_too_many_refused_keys_disconnect(env, ssh):
    keys = [sshutil.keygen(ssh.dir / f"k{i}") for i in range(8)]
    opts = [a for k in keys[1:] for a in ("-i", str(k))]
    p = ssh.run("ls", key=keys[0], opts=opts)
    assert p.returncode == 255, (p.returncode, p.err)
    env.wait_log(peer_rx() + "too many authentication failures")
    assert len(re.findall(r"public key refused", env.log_text())) == 6


def test_rsa_key_and_comments_accepted(env, make_ssh):
    s = make_ssh()
    rsa = sshutil.keygen(s.dir / "id_rsa", "rsa")
    with open(s.authorized_keys, "a") as f:
        f.write("# a comment\n\nnot a key at all\n" + (s.dir / "id_rsa.pub").read_text())
    s.start_daemon()
    p = s.run("ls", key=rsa)
    assert p.returncode == 0, p.err
    assert s.run("ls").returncode == 0


def test_host_key_generated_0600(env, ssh):
    st = os.stat(ssh.host_key)
    assert stat.S_IMODE(st.st_mode) == 0o600
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(ssh.host_key)], capture_output=True,
                         text=True).stdout
    assert "(ED25519)" in out, out
    assert ssh.run("ls").returncode == 0
    pub = subprocess.run(["ssh-keygen", "-y", "-f", str(ssh.host_key)], capture_output=True,
                         text=True, check=True).stdout.split()[1]
    assert pub in ssh.known_hosts.read_text(), "the client saw another host key"


def test_nothing_secret_is_logged(env, ssh):
    """At log level debug (the test config's level): neither what a user
    types (a password at a prompt, through the SSH endpoint and locally) nor
    any part of the host's private key reaches the daemon's log."""
    secret = "hunter2-%08x" % random.getrandbits(32)
    t = ssh.term("attach", "pw")
    t.expect(PROMPT, 10)
    # Typed only once read waits: readline may flush typeahead.
    t.send("echo rea''dy; read -r pw; echo got-${#pw}\r")
    t.expect("ready", 5)
    t.send(secret + "\r")
    t.expect(r"got-%d" % len(secret), 5)
    u = env.attach("local")
    u.send("echo rea''dy; read -r pw; echo got-${#pw}\r")
    u.expect("ready", 5)
    u.send(secret + "\r")
    u.expect(r"got-%d" % len(secret), 5)
    log = env.log_text()
    assert "ssh 127.0.0.1" in log and "attach pw" in log  # the log is the right one
    assert secret not in log
    assert secret.encode().hex() not in log
    body = "".join(ln for ln in ssh.host_key.read_text().splitlines() if not ln.startswith("-"))
    for i in range(0, len(body) - 16, 16):
        assert body[i:i + 16] not in log, "part of the host key is in the log"


def test_host_key_readable_by_others_refused(env, make_ssh):
    s = make_ssh()
    sshutil.keygen(s.host_key)
    s.host_key.chmod(0o644)
    d = env.start_daemon(wait=False)
    rc = d.proc.wait(10 * h.SCALE)
    d.stopped = True  # it was meant to fail: nothing for teardown to stop
    assert rc != 0
    lines = [ln for ln in d.stderr().splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert str(s.host_key) in lines[0] and "chmod 600" in lines[0], lines[0]
    assert not env.sock.exists() or not env.socket_connectable()


def raw_connect(port, source="127.0.0.1"):
    c = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return c, c.getsockname()[1]


def recv_until_eof(c, timeout):
    """Read until EOF (True) or the deadline (False)."""
    end = h.deadline(timeout)
    c.settimeout(0.05)
    while time.monotonic() < end:
        try:
            if not c.recv(4096):
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False


def test_login_grace(env, make_ssh):
    s = make_ssh(login_grace="1s")
    s.start_daemon()
    c, port = raw_connect(s.port)
    try:
        t0 = time.monotonic()
        assert c.recv(64).startswith(b"SSH-2.0-")
        assert recv_until_eof(c, 4), "a silent connection outlived the login grace"
        took = time.monotonic() - t0
        assert 0.8 <= took <= 2.5 * h.SCALE, took
        env.wait_log(peer_rx(port) + "login grace time exceeded")
    finally:
        c.close()
    # Authenticated but asking for nothing (ssh -N) is bounded the same way.
    p = s.run(opts=("-N",), timeout=10)
    assert p.returncode == 255, (p.returncode, p.err)
    env.wait_log(peer_rx() + "no session started within the login grace time")


def test_max_unauth(env, make_ssh):
    """Connections not yet authenticated are capped; the extra one is closed
    at once. Authenticated connections do not count: a user already in keeps
    working. While the cap is full a new user is refused too (nobody can tell
    who will authenticate); login_grace bounds that, as sshd's MaxStartups."""
    s = make_ssh(max_unauth="2", login_grace="3s")
    s.start_daemon()
    t = s.term("attach", "in")
    t.expect(PROMPT, 10)
    silent = []
    try:
        for _ in range(2):
            c, port = raw_connect(s.port)
            silent.append(c)
            env.wait_log(peer_rx(port) + "connection, child")
        c, port = raw_connect(s.port)
        silent.append(c)
        assert recv_until_eof(c, 1), "the connection over max_unauth was not closed at once"
        env.wait_log(peer_rx(port) + r"refused: 2 connections not yet authenticated \(max_unauth\)")
        shell_echo(t)  # the authenticated user is not affected
        assert s.run("ls").returncode == 255  # the cap is full
        for c in silent[:2]:
            assert recv_until_eof(c, 5), "a silent connection outlived the login grace"
        assert s.run("ls").returncode == 0
        shell_echo(t)
    finally:
        for c in silent:
            c.close()
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0


def test_unauth_flood_from_one_host_does_not_lock_others_out(env, make_ssh):
    """Forty silent connections at once from one address (127.0.0.2, as
    another host would be): three get a child (max_unauth_per_source), the
    rest are closed at once and logged in one rate-limited line, and neither
    the user already attached nor a new login from another address (the
    stock ssh client from 127.0.0.1) notices."""
    s = make_ssh(max_unauth="10", max_unauth_per_source="3", login_grace="30s")
    s.start_daemon()
    t = s.term("attach", "in")
    t.expect(PROMPT, 10)
    flood = []
    try:
        for _ in range(40):
            flood.append(raw_connect(s.port, "127.0.0.2")[0])
        closed = [c for c in flood if recv_until_eof(c, 0.2)]
        assert len(closed) == 37, len(closed)
        refused = env.wait_log(r"ssh 127\.0\.0\.2:\d+: refused: 3 connections from "
                               r"127\.0\.0\.2 not yet authenticated \(max_unauth_per_source\)")
        assert refused
        lines = [ln for ln in env.log_text().splitlines() if "refused:" in ln]
        assert len(lines) <= 2, lines  # a flood does not flood the log
        shell_echo(t)
        r = s.run("ls")
        assert r.returncode == 0 and re.search(r"^in\s", r.out, re.M), (r.out, r.err)
        shell_echo(t)
    finally:
        for c in flood:
            c.close()
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0


# ---------------------------------------------------------------------------
# dead transports


def test_frozen_client_keepalive_timeout(env, ssh):
    with FaultProxy(("127.0.0.1", ssh.port)) as proxy:
        t = ssh.term("attach", "fz", port=proxy.port)
        t.expect(PROMPT, 10)
        shell_echo(t)
        pid = env.session("fz")["pid"]
        proxy.freeze()
        t0 = time.monotonic()
        env.wait_log(peer_rx() + "keepalive_timeout", 8)
        took = time.monotonic() - t0
        # interval 1s x 3: declared dead after 3-4 s
        assert took < 4.8 * h.SCALE, took
        s = wait_session(env, "fz", lambda s: s["state"] == "orphaned", what="fz orphaned")
        assert s["pid"] == pid and h.pid_running(pid)
        assert stats(env)["keepalive_timeout"] == 1
        t.kill()
        proxy.forward()
    # A new connection gets the same shell back.
    u = ssh.term("attach", "fz")
    u.set_mark()
    assert f"P:{pid}" in shell_run(u, 'echo "P:$$"')
    u.send(DETACH_KEY)
    assert u.wait_exit(5) == 0


def test_reset_connection_is_tcp_error(env, ssh):
    with FaultProxy(("127.0.0.1", ssh.port)) as proxy:
        t = ssh.term("attach", "rst", port=proxy.port)
        t.expect(PROMPT, 10)
        shell_echo(t)
        assert proxy.reset() >= 1
        env.wait_log(peer_rx() + "connection failed: ", 5)
        wait_session(env, "rst", lambda s: s["state"] == "orphaned", what="rst orphaned")
        assert stats(env)["tcp_error"] == 1
        assert t.wait_exit(5) == 255


def slow_env(env, make_ssh):
    """Heartbeats that outlast the tests below: what must act is the
    endpoint (keepalives, backpressure), not the daemon's heartbeat check of
    the remote bridge client."""
    env.set("heartbeat", "interval", "1s")
    env.set("heartbeat", "timeout", "20s")
    s = make_ssh()
    s.start_daemon()
    return s


def test_bridge_frozen_keepalive_gone_on_frame_boundary(env, make_ssh):
    s = slow_env(env, make_ssh)
    with FaultProxy(("127.0.0.1", s.port)) as proxy:
        b = s.bridge("bk", port=proxy.port)
        b.handshake(hb_timeout_ms=20000)
        b.attach("bk")
        b.read_output(re.escape(PROMPT), 10)
        # Half a frame from the remote client, then the link freezes: the
        # endpoint must report the loss on a frame boundary of its own.
        up = proxy.stats()["bytes_up"]
        b.send_raw(h.header(h.INPUT, 10) + b"abc")
        assert proxy.wait_for(lambda st: st["bytes_up"] > up, 5)
        proxy.freeze()
        env.wait_log(peer_rx() + "keepalive_timeout", 8)
        wait_session(env, "bk", lambda s: s["state"] == "orphaned", what="bk orphaned")
        st = stats(env)
        assert st["keepalive_timeout"] == 1 and st["protocol_error"] == 0, st
        assert st["heartbeat_timeout"] == 0, st
        proxy.forward()


def ssh_conn_pids(daemon):
    return [p for p, _ in h.descendants(daemon.pid)
            if "ssh-conn" in (h.proc_cmdline(p) or [])]


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def test_bridge_reader_that_stops_is_bounded(env, make_ssh):
    """A remote client that stops reading: the endpoint stops reading the
    daemon instead of buffering, so the daemon applies its slow-client policy
    (the client is left behind) and the endpoint's memory stays flat; when
    the client reads again it is repainted and goes on."""
    s = slow_env(env, make_ssh)
    d = env.daemons[0]
    b = s.bridge("flood")
    b.handshake(hb_timeout_ms=20000)
    b.attach("flood")
    b.read_output(re.escape(PROMPT), 10)
    (child,) = ssh_conn_pids(d)
    base = rss_kb(child)
    b.send(h.INPUT, b"yes persh-flood-line\r")  # and we read nothing more
    peak = 0

    def left_behind():
        nonlocal peak
        peak = max(peak, rss_kb(child))
        return re.search(r"session flood: client \d+ \(ssh [^)]*\) left behind",
                         env.log_text())
    wait_for(left_behind, 10, "the stalled bridge client left behind")
    # the client's window (2 MiB) and a frame or two, not the flood
    assert peak - base < 16 * 1024, f"ssh-conn grew from {base} to {peak} kB"
    # Reading again: the backlog, then a skip to the present and a repaint.
    b.expect(h.SKIPPED, 20, skip=(h.HELLO, h.HEARTBEAT, h.OUTPUT, h.REDRAW))
    b.expect(h.REDRAW, 5, skip=(h.HELLO, h.HEARTBEAT))
    b.send(h.INPUT, b"\x03")  # stop the flood
    b.send(h.INPUT, b"echo ST''OP\r")
    b.read_output(rb"STOP\r\n", 20)
    assert env.session("flood")["clients"] == 1


def test_persh_client_through_the_endpoint(env, make_ssh):
    """`persh attach HOST/NAME` (the libssh client, `persh bridge NAME` on
    the far side) against the embedded endpoint instead of a stock sshd,
    through a link that freezes and comes back: same shell, resumed."""
    env.set("heartbeat", "interval", "500ms")
    env.set("heartbeat", "timeout", "2s")
    s = make_ssh(keepalive_interval="500ms")
    s.start_daemon()
    hostpub = subprocess.run(["ssh-keygen", "-y", "-f", str(s.host_key)], capture_output=True,
                             text=True, check=True).stdout.split()
    with FaultProxy(("127.0.0.1", s.port)) as proxy:
        kh = s.dir / "client_known_hosts"
        kh.write_text(f"[127.0.0.1]:{proxy.port} {hostpub[0]} {hostpub[1]}\n")
        conf = s.dir / "client_ssh_config"
        conf.write_text(f"Host box\n    HostName 127.0.0.1\n    Port {proxy.port}\n"
                        f"    IdentityFile {s.key}\n    IdentitiesOnly yes\n"
                        f"    UserKnownHostsFile {kh}\n    GlobalKnownHostsFile /dev/null\n")
        ini = s.dir / "client.ini"
        ini.write_text(f"[daemon]\nruntime_dir = {env.root / 'client-run'}\n"
                       "[heartbeat]\ninterval = 500ms\ntimeout = 2s\n"
                       f"[client]\nreconnect_base = 100ms\nreconnect_max = 1s\nssh_config = {conf}\n"
                       "[ssh]\nkeepalive_interval = 500ms\nkeepalive_count = 3\n")
        cenv = env.base_env(PERSH_CONFIG=None, SSH_AUTH_SOCK=None, SSH_AGENT_PID=None)
        t = env.term([h.persh_bin(), "attach", "-c", str(ini), "box/far"], env=cenv,
                     name="remote-attach")
        t.wait_raw(15)
        t.expect(PROMPT, 10)
        pid = int(re.search(r"P:(\d+)", shell_run(t, 'echo "P:$$"')).group(1))
        env.wait_log(peer_rx() + "bridge far")
        proxy.freeze()
        wait_session(env, "far", lambda s: s["state"] == "orphaned", 8, "far orphaned")
        proxy.forward()
        wait_session(env, "far", lambda s: s["clients"] == 1, 10, "far attached again")
        assert f"P:{pid}" in shell_run(t, 'echo "P:$$"', 10)
        t.send(DETACH_KEY)
        assert t.wait_exit(10) == 0


def test_daemon_stopping_ends_the_connection(env, make_ssh):
    s = make_ssh()
    d = s.start_daemon()
    t = s.term("attach", "sd")
    t.expect(PROMPT, 10)
    d.proc.send_signal(signal.SIGTERM)
    t.expect(b"[persh: dropped from sd: daemon_shutdown]", 5)
    assert t.wait_exit(5) == 1
    assert d.proc.wait(5 * h.SCALE) == 0


def test_client_closing_is_client_eof(env, ssh):
    t = ssh.term("attach", "gone")
    t.expect(PROMPT, 10)
    t.signal(signal.SIGTERM)  # ssh exits: a normal disconnect, not a detach
    t.wait_exit(5)
    wait_session(env, "gone", lambda s: s["state"] == "orphaned", what="gone orphaned")
    st = stats(env)
    assert st["client_eof"] == 1 and st["tcp_error"] == 0, st
