"""Integration tests for the ProxyCommand wrapper (issue 6): the stock OpenSSH
client with `ProxyCommand persh proxy 127.0.0.1 PORT`, through the project's
fault-injecting proxy, to the daemon's [relay], which holds the connection to
a throwaway OpenSSH sshd on a loopback port started here (its own config,
host key and authorized_keys in the test's temp dir). Raw relay-protocol
clients check that forged and unknown resumes are refused.

Settings: heartbeat 500ms/2s, reconnect backoff 100ms..1s (both ends read
the test's own INI file)."""

import base64
import hashlib
import hmac
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

import harness as h
from harness import wait_for
from sshutil import SSHD, Sshd, free_port, keygen

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "faultproxy"))
from faultproxy import FaultProxy  # noqa: E402

HOST = "relaybox"

# The relay protocol (src/proto.h).
ERROR = 3
RHELLO, RWELCOME, RCHALLENGE, RPROOF, RRESUMED, RDATA, RACK, REOF, RHEARTBEAT = range(40, 49)
RELAY_MAGIC = 0x50524C59
NEW, RESUME = 1, 2
E_VERSION, E_NOSTREAM, E_AUTH = 1, 10, 11


def established(port):
    """Established TCP connections to 127.0.0.1:port, from `ss`."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [ln for ln in out.splitlines() if ln.strip()]


class Relay:
    """A throwaway sshd, the daemon with [relay] in front of it, a FaultProxy
    in front of the relay, and an ssh_config whose ProxyCommand is
    `persh proxy` to the FaultProxy."""

    def __init__(self, env, target=None, **relay):
        self.env = env
        self.dir = env.root / "relay"
        self.dir.mkdir(mode=0o700)
        self.key = keygen(self.dir / "id_client")
        self.sshd = None
        self.sshd_port = None
        if target is None:
            self.start_sshd()
            target = f"127.0.0.1:{self.sshd_port}"
        self.port = free_port()
        env.set("heartbeat", "interval", "500ms")
        env.set("heartbeat", "timeout", "2s")
        env.set("client", "reconnect_base", "100ms")
        env.set("client", "reconnect_max", "1s")
        env.set("relay", "listen", f"127.0.0.1:{self.port}")
        env.set("relay", "target", target)
        for k, v in relay.items():
            env.set("relay", k, v)
        self.proxy = FaultProxy(("127.0.0.1", self.port))
        self.client_log = env.root / "proxy.log"
        self.known_hosts = self.dir / "known_hosts"
        self.ssh_config = self.dir / "ssh_config"
        self.ssh_config.write_text("\n".join([
            f"Host {HOST}",
            "    HostName 127.0.0.1",
            f"    User {pwd.getpwuid(os.getuid()).pw_name}",
            f"    IdentityFile {self.key}",
            "    IdentitiesOnly yes",
            "    IdentityAgent none",
            f"    UserKnownHostsFile {self.known_hosts}",
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking no",
            "    BatchMode yes",
            "    LogLevel ERROR",
            "    ServerAliveInterval 0",
            f"    ProxyCommand {h.persh_bin()} -c {env.cfg_path} proxy 127.0.0.1 {self.proxy.port}",
            "",
        ]))
        self.procs = []

    # -- the target sshd

    def start_sshd(self):
        self.sshd = Sshd(self.dir, self.dir / "id_client.pub", f"HOME={self.dir} LC_ALL=C")
        self.sshd_port = self.sshd.port

    def start_daemon(self):
        d = self.env.start_daemon()
        self.env.wait_log(r"relay listening on 127\.0\.0\.1:%d" % self.port, 5)
        return d

    # -- ssh through the relay

    def client_env(self):
        return self.env.base_env(PERSH_CLIENT_LOG=self.client_log, SSH_AUTH_SOCK=None)

    def argv(self, *cmd, tty=None, prog="ssh"):
        a = [prog, "-F", str(self.ssh_config)]
        if tty:
            a.append("-" + tty)
        return a + [HOST, *cmd]

    def popen(self, *cmd, **kw):
        p = subprocess.Popen(self.argv(*cmd), stdin=subprocess.DEVNULL, env=self.client_env(),
                             start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def run(self, *argv, timeout=30.0):
        """argv to completion, stdin an empty pipe (persh proxy wants a pipe)."""
        p = subprocess.run(argv, input=b"", capture_output=True,
                           env=self.client_env(), timeout=timeout * h.SCALE, start_new_session=True)
        p.out = p.stdout.decode(errors="replace")
        p.err = no_sanitizer(p.stderr.decode(errors="replace"), argv)
        return p

    def term(self, *cmd, name="ssh-relay"):
        return self.env.term(self.argv(*cmd, tty="tt"), 24, 120, name=name, env=self.client_env())

    def stream_log(self, what):
        return [ln for ln in self.env.log_text().splitlines() if "relay stream" in ln and what in ln]

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait(5)
        self.proxy.close()
        if self.sshd is not None:
            problems = self.sshd.close()
            assert not problems, problems


@pytest.fixture
def make_relay(env):
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"{SSHD} is not installed (openssh-server)")
    made = []

    def make(**kw):
        r = Relay(env, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def relay(make_relay):
    r = make_relay()
    r.start_daemon()
    return r


class RawRelay:
    """A relay-protocol client on a plain socket (src/proto.h)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""

    def send(self, ftype, payload=b""):
        self.sock.sendall(h.frame(ftype, payload))

    def recv(self, timeout=5.0):
        """The next frame as (type, payload), or None at EOF."""
        end = h.deadline(timeout)
        while True:
            if len(self.buf) >= 8:
                ftype, zero, n = struct.unpack(">HHI", self.buf[:8])
                if len(self.buf) >= 8 + n:
                    p = self.buf[8:8 + n]
                    self.buf = self.buf[8 + n:]
                    return ftype, p
            left = end - time.monotonic()
            if left <= 0:
                raise h.Timeout("no frame from the relay")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self.buf += data

    def expect(self, *types, timeout=5.0):
        """The next frame that is not a heartbeat or an ack; its type must
        be one of types."""
        while True:
            f = self.recv(timeout)
            assert f is not None, f"connection closed while waiting for {types}"
            if f[0] in (RHEARTBEAT, RACK):
                continue
            assert f[0] in types, f"frame {f[0]} ({f[1][:80]!r}) while waiting for {types}"
            return f

    def hello(self, kind, body, version=1, hb_ms=2000):
        self.send(RHELLO, struct.pack(">IHHI", RELAY_MAGIC, version, kind, hb_ms) + body)

    def error(self):
        """The ERROR frame the relay answers with, then its EOF."""
        ftype, p = self.expect(ERROR)
        code = struct.unpack(">H", p[:2])[0]
        text = p[3:3 + p[2]].decode()
        assert self.recv(5) is None, "the relay kept the connection open after an ERROR"
        return code, text

    def close(self):
        self.sock.close()


def no_sanitizer(err, what):
    """err, after checking that persh proxy (which writes to ssh's stderr)
    reported nothing under ASan/UBSan."""
    reports = h.sanitizer_reports(err, f"{what}")
    assert not reports, reports[0]
    return err


def sha256_of_seq(n):
    return hashlib.sha256(subprocess.run(["seq", "1", str(n)], capture_output=True,
                                         check=True).stdout).hexdigest()


# ---------------------------------------------------------------------------
# the stream survives


def test_interactive_session_survives_freeze_and_reset(env, relay):
    t = relay.term(str(h.TESTSHELL))
    t.expect(h.PROMPT, 15)
    pid = h.shell_run(t, "echo pid=$$").strip()
    assert re.fullmatch(r"pid=\d+", pid), pid
    relay.proxy.wait_connections(1, 5)

    # 10 s of silence: both ends notice after 2 s; ssh notices nothing.
    relay.proxy.freeze()
    t.expect(b"persh proxy: link lost", 5)
    t.sendline("echo typed during the freeze")
    time.sleep(10)  # hold the fault
    relay.proxy.forward()
    t.expect(re.compile(rb"persh proxy: resumed after \d+\.\ds"), 10)
    t.expect(b"typed during the freeze\r\n", 10)
    assert h.shell_run(t, "echo pid=$$").strip() == pid

    # A reset: both sockets die at once; the proxy reconnects at once.
    assert relay.proxy.reset() >= 1
    t.expect(b"persh proxy: link lost", 5)
    t.expect(b"persh proxy: resumed after", 10)
    assert h.shell_run(t, "echo pid=$$").strip() == pid
    assert len(relay.stream_log("resumed from")) >= 2
    assert relay.stream_log("ended") == []

    t.sendline("exit 3")
    assert t.wait_exit(10) == 3
    env.wait_log(r"relay stream \w+: ended: closed", 5)
    assert env.ls()["stats"]["closed"] == 1


def test_seq_through_two_freezes_is_exact(env, relay):
    """ssh host 'seq 1 2000000' while the link freezes twice: the output's
    SHA-256 is seq's. The reader stops at set points so the daemon's buffer
    is full when each freeze starts, then drains during it."""
    n = 2000000
    p = relay.popen(f"seq 1 {n}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    digest, total = hashlib.sha256(), [0]
    gate, paused = threading.Event(), threading.Event()
    stops = [2 << 20, 8 << 20]

    def reader():
        while True:
            if stops and total[0] >= stops[0]:
                stops.pop(0)
                paused.set()
                gate.wait()
                gate.clear()
            data = p.stdout.read1(65536)
            if not data:
                return
            digest.update(data)
            total[0] += len(data)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    for _ in range(2):
        assert paused.wait(20 * h.SCALE), "the output stopped before the freeze point"
        paused.clear()
        # Let the stream's buffers fill behind the stopped reader.
        wait_for(lambda: relay.proxy.stats()["bytes_down"] > total[0] + (1 << 20), 10,
                 "bytes in flight")
        relay.proxy.freeze()
        gate.set()
        time.sleep(3)  # hold the fault past the 2 s heartbeat timeout
        relay.proxy.forward()
    th.join(60 * h.SCALE)
    assert not th.is_alive()
    rc = p.wait(10 * h.SCALE)
    err = no_sanitizer(p.stderr.read().decode(errors="replace"), "ssh seq")
    assert rc == 0, err
    assert err.count("persh proxy: link lost") == 2, err
    assert err.count("persh proxy: resumed after") == 2, err
    assert total[0] == len(subprocess.run(["seq", "1", str(n)], capture_output=True).stdout)
    assert digest.hexdigest() == sha256_of_seq(n)


def test_scp_50mb_through_freeze_and_reset(env, relay):
    src = env.root / "random.bin"
    with open(src, "wb") as f:
        f.write(os.urandom(50 << 20))
    dst = relay.dir / "copy.bin"
    # -l caps scp at ~20 MB/s so that the faults land mid-transfer.
    p = subprocess.Popen(relay.argv(prog="scp")[:-1] + ["-l", "160000", str(src), f"{HOST}:{dst}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=relay.client_env(), start_new_session=True)
    relay.procs.append(p)
    wait_for(lambda: relay.proxy.stats()["bytes_up"] > (10 << 20), 30, "10 MB up")
    relay.proxy.freeze()
    time.sleep(3)  # hold the fault
    relay.proxy.forward()
    wait_for(lambda: relay.proxy.stats()["bytes_up"] > (30 << 20), 30, "30 MB up")
    assert relay.proxy.reset() >= 1
    rc = p.wait(60 * h.SCALE)
    err = no_sanitizer(p.stderr.read().decode(errors="replace"), "scp")
    assert rc == 0, err
    assert err.count("persh proxy: resumed after") == 2, err
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == want


# ---------------------------------------------------------------------------
# owning a stream


def open_raw_stream(relay):
    """A raw client's own new stream (its key is random bytes: it never
    learns the secret); returns (client, stream id) once the target's SSH
    banner has come through it."""
    a = RawRelay(relay.port)
    a.hello(NEW, os.urandom(32))
    _, w = a.expect(RWELCOME)
    assert len(w) == 52
    sid = w[:16]
    _, data = a.expect(RDATA)
    assert data.startswith(b"SSH-2.0-OpenSSH"), data
    return a, sid


def keyed_stream(relay):
    """A new stream opened with a real key exchange, done independently of
    persh with Python's cryptography: (client, stream id, secret, banner,
    X25519 shared value)."""
    x25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.x25519")
    from cryptography.hazmat.primitives import serialization

    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    priv = x25519.X25519PrivateKey.generate()
    pub = priv.public_key().public_bytes(*raw)
    a = RawRelay(relay.port)
    a.hello(NEW, pub)
    _, w = a.expect(RWELCOME)
    sid, spub = w[:16], w[16:48]
    shared = priv.exchange(x25519.X25519PublicKey.from_public_bytes(spub))
    secret = hmac.digest(shared, b"persh relay v1" + pub + spub + sid, "sha256")
    _, banner = a.expect(RDATA)
    assert banner.startswith(b"SSH-2.0-OpenSSH")
    return a, sid, secret, banner, shared


def resume_proof(secret, sid, challenge, offset):
    return hmac.digest(secret, b"persh resume" + sid + challenge + struct.pack(">Q", offset),
                       "sha256")


def test_forged_resume_refused_and_stream_untouched(env, relay):
    a, sid = open_raw_stream(relay)
    label = sid[:4].hex()

    # Someone who saw the stream id asks to resume it, with a wrong proof.
    b = RawRelay(relay.port)
    b.hello(RESUME, sid)
    _, challenge = b.expect(RCHALLENGE)
    assert len(challenge) == 32
    b.send(RPROOF, os.urandom(32) + struct.pack(">Q", 0))
    code, text = b.error()
    assert code == E_AUTH, (code, text)
    env.wait_log(r"relay 127\.0\.0\.1:\d+: resume refused: wrong proof for stream " + label, 3)

    # A second try gets a fresh challenge; replaying the proof is as wrong.
    c = RawRelay(relay.port)
    c.hello(RESUME, sid)
    _, challenge2 = c.expect(RCHALLENGE)
    assert challenge2 != challenge
    c.send(RPROOF, os.urandom(32) + struct.pack(">Q", 0))
    assert c.error()[0] == E_AUTH

    # The stream and its link are as they were: the target answers our banner.
    a.send(RDATA, b"SSH-2.0-relaytest\r\n")
    _, more = a.expect(RDATA, timeout=5)
    assert more
    log = env.log_text()
    assert f"relay stream {label}: link" not in log, log[-2000:]
    assert f"relay stream {label}: ended" not in log
    assert env.ls()["stats"]["resume_refused"] == 2
    a.close()


def test_right_proof_takes_over_a_live_link_and_replays(env, relay):
    """An independent implementation of the key exchange (Python's
    cryptography): it derives the same secret as the relay, and a right
    proof takes the stream over from a link the relay still thinks alive,
    replaying from the offset it reports."""
    a, sid, secret, banner, _ = keyed_stream(relay)

    def proof(challenge, offset):
        return resume_proof(secret, sid, challenge, offset)

    # A right proof for another offset than the one sent is still wrong.
    b = RawRelay(relay.port)
    b.hello(RESUME, sid)
    _, ch = b.expect(RCHALLENGE)
    b.send(RPROOF, proof(ch, len(banner)) + struct.pack(">Q", 0))
    assert b.error()[0] == E_AUTH

    # The right one, asking for everything again from offset 0.
    c = RawRelay(relay.port)
    c.hello(RESUME, sid)
    _, ch = c.expect(RCHALLENGE)
    c.send(RPROOF, proof(ch, 0) + struct.pack(">Q", 0))
    _, r = c.expect(RRESUMED)
    assert struct.unpack(">QI", r) == (0, 2000), "the relay has nothing from us yet"
    _, again = c.expect(RDATA)
    assert again == banner, "the banner replayed from offset 0"
    # The old link was dropped, not the new one.
    while (f := a.recv(5)) is not None:
        assert f[0] in (RHEARTBEAT, RACK, RDATA), f
    env.wait_log(r"relay stream %s: link from 127\.0\.0\.1:\d+ replaced by a resume"
                 % sid[:4].hex(), 3)
    c.send(RDATA, b"SSH-2.0-relaytest\r\n")
    _, kex = c.expect(RDATA)
    assert kex
    assert env.ls()["stats"]["resume_refused"] == 1
    for x in (a, b, c):
        x.close()


def test_client_cannot_choose_the_target(env, relay):
    """The relay connects only to its configured [relay] target: the
    protocol has no field for one, and a hello carrying a target anyway (as
    a client that wanted to use the relay as an open proxy would send) is
    refused as malformed, with no connection made anywhere."""
    decoy = socket.socket()
    decoy.bind(("127.0.0.1", 0))
    decoy.listen(8)
    decoy.settimeout(0)
    dport = decoy.getsockname()[1]
    try:
        for extra in (b"127.0.0.1:%d" % dport, struct.pack(">B", 9) + b"127.0.0.1" +
                      struct.pack(">H", dport)):
            r = RawRelay(relay.port)
            r.hello(NEW, os.urandom(32) + extra)
            code, text = r.error()
            assert (code, text) == (2, "malformed relay hello"), (code, text)
        # A well-formed stream goes to the configured target and nowhere else.
        a, sid = open_raw_stream(relay)
        assert len(established(relay.sshd_port)) == 1
        with pytest.raises(BlockingIOError):
            decoy.accept()
        assert "new stream" in env.log_text() and str(dport) not in env.log_text()
        a.close()
    finally:
        decoy.close()


def test_nothing_secret_is_logged(env, make_relay):
    """At log level debug, in the daemon's log and the proxy's: not the
    relay's shared secret, nor a resume proof, nor the whole stream id (the
    first 4 bytes name a stream), nor what flows through the stream."""
    env.set("daemon", "log_level", "debug")
    relay = make_relay()
    relay.start_daemon()
    a, sid, secret, _, shared = keyed_stream(relay)
    payload = b"SSH-2.0-secretive-client-7f3a9c\r\n"
    a.send(RDATA, payload)
    a.expect(RDATA)
    b = RawRelay(relay.port)
    b.hello(RESUME, sid)
    _, ch = b.expect(RCHALLENGE)
    proof = resume_proof(secret, sid, ch, 0)
    b.send(RPROOF, proof + struct.pack(">Q", 0))
    b.expect(RRESUMED)
    env.wait_log(r"relay stream %s: link from .* replaced by a resume" % sid[:4].hex(), 3)
    # And a real proxy's own log, through a link loss and resume.
    r = relay.run("ssh", "-F", str(relay.ssh_config), HOST, "echo", "through")
    assert r.returncode == 0 and r.out.strip() == "through", r.err
    logs = env.log_text() + relay.client_log.read_text(errors="replace")
    assert "relay stream %s: from" % sid[:4].hex() in logs  # debug lines are there
    assert "proxy: stream" in logs and "established" in logs
    for name, val in (("shared", shared), ("secret", secret), ("proof", proof), ("id", sid),
                      ("challenge", ch)):
        for form in (val.hex(), val.hex().upper(), base64.b64encode(val).decode()):
            assert form not in logs, f"the {name} is in the log"
    assert b"secretive-client" not in logs.encode()
    for x in (a, b):
        x.close()


def test_unknown_stream_refused(env, relay):
    r = RawRelay(relay.port)
    r.hello(RESUME, bytes(16))
    code, text = r.error()
    assert (code, text) == (E_NOSTREAM, "no such stream")
    env.wait_log(r"relay 127\.0\.0\.1:\d+: resume refused: unknown stream 00000000", 3)
    assert env.ls()["stats"]["resume_refused"] == 1
    # Nothing was made for it: no stream, no target connection.
    assert "new stream" not in env.log_text()
    assert established(relay.sshd_port) == []


def test_other_version_and_garbage_refused(env, relay):
    r = RawRelay(relay.port)
    r.hello(NEW, os.urandom(32), version=2)
    code, text = r.error()
    assert code == E_VERSION
    assert text == "relay protocol version 2 not supported (daemon speaks 1)"
    g = RawRelay(relay.port)
    g.sock.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
    assert g.recv(5) is None, "garbage must close the connection"
    assert established(relay.sshd_port) == []


# ---------------------------------------------------------------------------
# ends


def test_first_connection_failures_are_one_line(env, make_relay):
    r = make_relay()
    # No daemon yet: refused at once, no retries.
    t0 = time.monotonic()
    p = r.run(h.persh_bin(), "-c", str(env.cfg_path), "proxy", "127.0.0.1", str(r.port))
    assert p.returncode == 3, (p.returncode, p.err)
    assert p.err == (f"persh proxy: cannot reach the relay at 127.0.0.1:{r.port}:"
                     " Connection refused\n"), p.err
    assert time.monotonic() - t0 < 2 * h.SCALE
    # Something that is not a relay (the sshd itself).
    p = r.run(h.persh_bin(), "-c", str(env.cfg_path), "proxy", "127.0.0.1", str(r.sshd_port))
    assert p.returncode == 1, (p.returncode, p.err)
    assert p.err.startswith(f"persh proxy: 127.0.0.1:{r.sshd_port} is not a persh relay"), p.err
    assert p.err.count("\n") == 1
    # And ssh says it could not connect.
    p = r.run(*r.argv("true"))
    assert p.returncode == 255, p.err
    assert "persh proxy: cannot reach the relay" in p.err


def test_target_down_is_one_line(env, make_relay):
    r = make_relay(target=f"127.0.0.1:{free_port()}")
    r.start_daemon()
    p = r.run(h.persh_bin(), "-c", str(env.cfg_path), "proxy", "127.0.0.1", str(r.port))
    assert p.returncode == 1, (p.returncode, p.err)
    assert re.fullmatch(r"persh proxy: relay at 127\.0\.0\.1:\d+: cannot connect to "
                        r"127\.0\.0\.1:\d+: Connection refused\n", p.err), p.err
    env.wait_log(r"relay stream \w+: ended: target_error", 3)
    assert env.ls()["stats"]["target_error"] == 1


def test_past_resume_window_ssh_exits_and_target_freed(env, make_relay):
    r = make_relay(resume_window="2s")
    r.start_daemon()
    p = r.popen("echo up; exec sleep 600", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"up\n"
    wait_for(lambda: len(established(r.sshd_port)) == 1, 5, "the relay's target connection")
    r.proxy.freeze()
    # 2 s to notice, then 2 s of window: the relay ends the stream ...
    env.wait_log(r"relay stream \w+: ended: resume_window", 10)
    wait_for(lambda: established(r.sshd_port) == [], 5, "the target connection closed")
    # ... and the proxy gives up after its own window; ssh exits.
    rc = p.wait(15 * h.SCALE)
    err = no_sanitizer(p.stderr.read().decode(errors="replace"), "ssh sleep")
    assert rc == 255, (rc, err)
    assert "persh proxy: gave up after 2s without the relay" in err, err
    assert env.ls()["stats"]["resume_window"] == 1
    r.proxy.forward()


@pytest.mark.skipif(h.VALGRIND, reason="the embedded endpoint's ssh-conn children exit at once "
                    "under valgrind (test_ssh.py fails the same way)")
def test_embedded_endpoint_as_target(env, make_relay):
    import sshutil

    r = make_relay(target="ssh")
    ssh = sshutil.SSH(env)
    ssh.authorized_keys.write_text((r.dir / "id_client.pub").read_text())
    d = r.start_daemon()
    try:
        env.wait_log(r"SSH endpoint listening on", 5)
    except h.Timeout:
        pytest.skip("the embedded SSH endpoint does not start in this tree")
    assert d.alive()
    t = r.term("attach", "viarelay")
    t.expect(h.PROMPT, 15)
    h.shell_echo(t)
    assert env.session("viarelay")["clients"] == 1
    assert r.proxy.reset() >= 1
    t.expect(b"persh proxy: resumed after", 10)
    h.shell_echo(t)
    t.send(b"\x1c")
    assert t.wait_exit(10) == 0
