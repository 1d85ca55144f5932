"""Tests of the fault-injecting proxy itself, against a small echo server.

Run with Debian's Python: /usr/bin/python3 -m pytest -q tests/faultproxy
Every wait is a condition with a deadline; the only plain waits are the short
windows in which the absence of bytes is asserted.
"""

import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultproxy  # noqa: E402
from faultproxy import FaultProxy, free_port  # noqa: E402

SCALE = float(os.environ.get("PERSH_TEST_TIMEOUT_SCALE", "1"))
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faultproxy.py")
SILENCE = 0.5  # window in which "nothing arrives" is asserted, seconds


# --------------------------------------------------------------------------
# helpers


def wait_until(cond, timeout=5.0, what="condition", interval=0.01):
    end = time.monotonic() + timeout * SCALE
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout * SCALE:.1f}s waiting for {what}")
        time.sleep(interval)


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def recv_exact(sock, n, timeout=5.0):
    end = time.monotonic() + timeout * SCALE
    buf = bytearray()
    while len(buf) < n:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"got {len(buf)} of {n} bytes before the deadline")
        r, _, _ = select.select([sock], [], [], left)
        if r:
            data = sock.recv(n - len(buf))
            if not data:
                raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
            buf += data
    return bytes(buf)


def assert_silent(sock, window=SILENCE):
    """Nothing (no byte, no EOF, no error) becomes readable on sock within
    the window."""
    r, _, _ = select.select([sock], [], [], window)
    assert not r, f"socket became readable: {sock.recv(64, socket.MSG_PEEK)!r}"


def outcome_of_read(sock, timeout=2.0):
    """How the next read ends: 'reset', 'eof', 'data' or 'timeout', and the
    time it took."""
    t0 = time.monotonic()
    r, _, _ = select.select([sock], [], [], timeout * SCALE)
    if not r:
        return "timeout", time.monotonic() - t0
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return "reset", time.monotonic() - t0
    return ("data" if data else "eof"), time.monotonic() - t0


def drain(sock, into, quiet=0.1):
    """Read what is already arriving until the socket stays quiet."""
    while True:
        r, _, _ = select.select([sock], [], [], quiet)
        if not r:
            return
        data = sock.recv(1 << 20)
        if not data:
            return
        into += data


def echo_round_trip(sock, payload=b"ping", timeout=5.0):
    sock.sendall(payload)
    assert recv_exact(sock, len(payload), timeout) == payload


class EchoServer:
    """Echoes every byte back; one thread per connection. Records how each
    connection ended ('eof', 'reset', 'error N')."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.cond = threading.Condition()
        self.accepted = 0
        self.bytes_in = 0
        self.live = set()
        self.outcomes = []
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept_loop, name="echo-accept")
        self.acceptor.start()

    def _accept_loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.cond:
                self.accepted += 1
                self.live.add(c)
                self.cond.notify_all()
            t = threading.Thread(target=self._serve, args=(c,), name="echo-conn")
            self.threads.append(t)
            t.start()

    def _serve(self, c):
        outcome = "eof"
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                with self.cond:
                    self.bytes_in += len(data)
                c.sendall(data)
        except ConnectionResetError:
            outcome = "reset"
        except OSError as e:
            outcome = f"error {e.errno}"
        finally:
            with self.cond:
                self.live.discard(c)
                c.close()
                self.outcomes.append(outcome)
                self.cond.notify_all()

    def wait(self, pred, timeout=5.0, what="echo server condition"):
        end = time.monotonic() + timeout * SCALE
        with self.cond:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.cond.wait(left)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self.sock.close()
        self.acceptor.join(5)
        with self.cond:
            for c in list(self.live):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self.threads:
            t.join(5)


@pytest.fixture
def echo():
    e = EchoServer()
    yield e
    e.close()


@pytest.fixture
def proxy(echo):
    p = FaultProxy(("127.0.0.1", echo.port))
    yield p
    p.close()


@pytest.fixture
def clients():
    socks = []

    def connect(port, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SCALE)
        s.settimeout(None)
        socks.append(s)
        return s

    yield connect
    for s in socks:
        s.close()


# --------------------------------------------------------------------------
# forward


def test_forward_round_trip_and_counters(proxy, echo, clients):
    c = clients(proxy.port)
    assert proxy.wait_connections(1, 5 * SCALE)
    echo_round_trip(c, b"hello, world")
    assert proxy.wait_for(lambda s: s["bytes_up"] == 12 and s["bytes_down"] == 12, 5 * SCALE)
    s = proxy.stats()
    assert (s["accepted"], s["active"], s["closed"], s["dropped"]) == (1, 1, 0, 0)
    assert not (s["frozen"] or s["refusing"] or s["dropping"])
    assert echo.accepted == 1

    c2 = clients(proxy.port)
    echo_round_trip(c2, b"x" * 1000)
    assert proxy.wait_for(lambda s: s["active"] == 2 and s["bytes_up"] == 1012, 5 * SCALE)
    c.close()
    c2.close()
    assert proxy.wait_active(0, 5 * SCALE)
    s = proxy.stats()
    assert (s["accepted"], s["closed"], s["bytes_up"], s["bytes_down"]) == (2, 2, 1012, 1012)
    assert s["buffered_up"] == s["buffered_down"] == 0


def test_forward_bulk_both_ways(proxy, clients):
    """8 MiB of random bytes out and back at once, with back-pressure."""
    c = clients(proxy.port)
    data = os.urandom(8 << 20)
    errors = []

    def send():
        try:
            c.sendall(data)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=send)
    t.start()
    got = recv_exact(c, len(data), timeout=30)
    t.join(10)
    assert not errors
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert proxy.wait_for(lambda s: s["bytes_up"] == s["bytes_down"] == len(data), 5 * SCALE)


def test_half_close_passes_eof_after_data(proxy, echo, clients):
    c = clients(proxy.port)
    c.sendall(b"last words")
    c.shutdown(socket.SHUT_WR)
    assert recv_exact(c, 10) == b"last words"
    assert outcome_of_read(c)[0] == "eof"
    echo.wait(lambda: echo.outcomes == ["eof"], what="echo sees EOF")
    assert proxy.wait_active(0, 5 * SCALE)


def test_unreachable_target_resets_client(clients):
    with FaultProxy(free_port()) as p:
        try:
            c = clients(p.port)
        except ConnectionResetError:
            pass  # the RST came before connect() returned
        else:
            how, took = outcome_of_read(c)
            assert how in ("reset", "eof")
            assert took < 2
        assert p.wait_for(lambda s: s["connect_failures"] == 1 and s["active"] == 0, 5 * SCALE)


# --------------------------------------------------------------------------
# freeze


def test_freeze_stops_both_ways_and_loses_nothing(proxy, clients):
    """A numbered sequence streams through the echo server across two
    freezes; during each, nothing moves and the sender is held back by flow
    control; afterwards the whole sequence arrives exactly once, in order."""
    c = clients(proxy.port)
    sent = {"lines": 0}
    stop = threading.Event()
    errors = []

    def sender():
        i = 0
        try:
            while not stop.is_set():
                c.sendall(b"".join(b"%08d\n" % k for k in range(i, i + 1000)))
                i += 1000
                sent["lines"] = i
            c.shutdown(socket.SHUT_WR)
        except OSError as e:
            errors.append(e)

    received = bytearray()

    def read_until(pred, timeout):
        end = time.monotonic() + timeout * SCALE
        while not pred():
            left = end - time.monotonic()
            assert left > 0, f"stuck at {len(received)} bytes received"
            r, _, _ = select.select([c], [], [], left)
            if r:
                data = c.recv(1 << 20)
                if not data:
                    return True
                received.extend(data)
        return False

    t = threading.Thread(target=sender)
    t.start()
    try:
        for round_ in range(2):
            mark = len(received)
            read_until(lambda: len(received) >= mark + 200_000, 10)
            proxy.freeze()
            drain(c, received)  # what was already on its way into our socket
            before, got_before = proxy.stats(), len(received)
            samples = []

            def blocked():
                # flow control holds the sender back: no progress for 0.2 s
                samples.append(sent["lines"])
                return len(samples) >= 5 and len(set(samples[-5:])) == 1

            wait_until(blocked, 10, "the sender to be blocked by flow control", interval=0.05)
            assert_silent(c)
            after = proxy.stats()
            for k in ("bytes_up", "bytes_down", "buffered_up", "buffered_down"):
                assert after[k] == before[k], f"{k} moved during the freeze"
            assert len(received) == got_before
            assert sent["lines"] * 9 > got_before, "nothing held in flight"
            assert after["active"] == 1 and after["frozen"]
            proxy.forward()
        mark = len(received)
        read_until(lambda: len(received) >= mark + 200_000, 10)
        stop.set()
        read_until(lambda: False, 60)  # to EOF
    finally:
        stop.set()
        t.join(60)
    assert not errors
    expected = b"".join(b"%08d\n" % k for k in range(sent["lines"]))
    if bytes(received) != expected:
        n = next((i for i, (a, b) in enumerate(zip(received, expected)) if a != b),
                 min(len(received), len(expected)))
        pytest.fail(f"sequence differs at byte {n} (got {len(received)}, "
                    f"expected {len(expected)}): {bytes(received[n:n + 27])!r} "
                    f"vs {expected[n:n + 27]!r}")
    assert proxy.wait_active(0, 5 * SCALE)


def test_freeze_holds_bytes_already_read(proxy, echo, clients):
    """Bytes the proxy has read but not written yet (held by a delay here)
    stay held through a freeze and are delivered after forward()."""
    c = clients(proxy.port)
    echo_round_trip(c)
    proxy.delay(300)
    c.sendall(b"A" * 1000)
    assert proxy.wait_for(lambda s: s["buffered_up"] == 1000, 5 * SCALE)
    proxy.freeze()
    proxy.delay(0)
    assert_silent(c)
    s = proxy.stats()
    assert s["buffered_up"] == 1000 and s["bytes_up"] == 4
    assert echo.bytes_in == 4
    proxy.forward()
    assert recv_exact(c, 1000) == b"A" * 1000
    assert proxy.wait_for(lambda s: s["buffered_up"] == s["buffered_down"] == 0, 5 * SCALE)


def test_freeze_applies_to_new_connections(proxy, echo, clients):
    proxy.freeze()
    c = clients(proxy.port)  # the TCP handshake with the proxy completes
    assert proxy.wait_connections(1, 5 * SCALE)
    c.sendall(b"ping")
    assert_silent(c)
    assert echo.accepted == 0, "the target saw a connection through a frozen link"
    assert proxy.stats()["active"] == 1
    proxy.forward()
    assert recv_exact(c, 4) == b"ping"
    assert echo.accepted == 1


# --------------------------------------------------------------------------
# reset


def test_reset_aborts_both_sides(proxy, echo, clients):
    c = clients(proxy.port)
    echo_round_trip(c)
    assert proxy.reset() == 1
    how, took = outcome_of_read(c)
    assert how == "reset"
    assert took < 1.0
    echo.wait(lambda: echo.outcomes == ["reset"], what="the target to see the reset")
    s = proxy.stats()
    assert (s["active"], s["resets"], s["closed"]) == (0, 1, 1)
    # back to forward for new connections
    c2 = clients(proxy.port)
    echo_round_trip(c2, b"again")


def test_reset_while_frozen(proxy, echo, clients):
    c = clients(proxy.port)
    echo_round_trip(c)
    proxy.freeze()
    pending = clients(proxy.port)  # accepted during the freeze, never connected
    assert proxy.wait_connections(2, 5 * SCALE)
    c.sendall(b"held")
    assert_silent(c, 0.2)
    assert proxy.reset() == 2
    assert outcome_of_read(c)[0] == "reset"
    assert outcome_of_read(pending)[0] == "reset"
    assert not proxy.stats()["frozen"]
    echo_round_trip(clients(proxy.port))


# --------------------------------------------------------------------------
# refuse, drop


def test_refuse_new_connections(proxy, echo, clients):
    c = clients(proxy.port)
    echo_round_trip(c)
    proxy.refuse(True)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5 * SCALE).close()
    echo_round_trip(c, b"still here")  # existing connection unaffected
    assert proxy.stats()["refusing"]
    assert echo.accepted == 1
    proxy.refuse(False)
    echo_round_trip(clients(proxy.port), b"welcome back")
    # forward() lifts it too
    proxy.refuse(True)
    proxy.forward()
    echo_round_trip(clients(proxy.port))


def test_drop_new_is_a_black_hole(proxy, echo, clients):
    live = clients(proxy.port)
    echo_round_trip(live)
    proxy.drop_new(True)
    hole = clients(proxy.port)  # connect() succeeds
    assert proxy.wait_for(lambda s: s["dropped"] == 1 and s["blackholed"] == 1, 5 * SCALE)
    hole.sendall(b"anyone there?")
    assert_silent(hole)
    assert echo.accepted == 1, "the target saw the black-holed connection"
    echo_round_trip(live, b"unaffected")
    proxy.drop_new(False)
    echo_round_trip(clients(proxy.port))
    assert_silent(hole, 0.1)  # still a black hole
    hole.close()
    assert proxy.wait_for(lambda s: s["blackholed"] == 0, 5 * SCALE)
    s = proxy.stats()
    assert (s["accepted"], s["dropped"], s["active"]) == (3, 1, 2)


def test_reset_clears_black_holes(proxy, clients):
    proxy.drop_new(True)
    hole = clients(proxy.port)
    assert proxy.wait_for(lambda s: s["blackholed"] == 1, 5 * SCALE)
    assert proxy.reset() == 1
    assert outcome_of_read(hole)[0] == "reset"
    assert not proxy.stats()["dropping"]
    echo_round_trip(clients(proxy.port))


# --------------------------------------------------------------------------
# delay, waits, threads


def test_delay_each_way(proxy, clients):
    c = clients(proxy.port)
    echo_round_trip(c)
    proxy.delay(150)
    t0 = time.monotonic()
    echo_round_trip(c)
    rtt = time.monotonic() - t0
    assert 0.29 <= rtt < 0.3 + 2 * SCALE
    proxy.delay(0)
    t0 = time.monotonic()
    echo_round_trip(c)
    assert time.monotonic() - t0 < 0.25 * SCALE


def test_wait_connections_has_a_deadline(proxy, clients):
    t0 = time.monotonic()
    assert proxy.wait_connections(1, 0.2) is False
    assert 0.15 <= time.monotonic() - t0 < 2
    threading.Timer(0.05, lambda: clients(proxy.port)).start()
    assert proxy.wait_connections(1, 5 * SCALE) is True
    assert proxy.wait_active(1, 5 * SCALE) is True


def test_modes_switched_from_many_threads(proxy, clients):
    """Freeze/forward/delay hammered from four threads during a transfer:
    no byte lost or duplicated, no command error."""
    c = clients(proxy.port)
    data = os.urandom(4 << 20)
    errors = []
    stop = threading.Event()

    def toggler(k):
        try:
            i = 0
            while not stop.is_set():
                proxy.freeze()
                proxy.delay(i % 3)
                proxy.forward()
                i += 1
        except Exception as e:
            errors.append(e)

    def send():
        try:
            c.sendall(data)
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=toggler, args=(k,)) for k in range(4)]
    threads.append(threading.Thread(target=send))
    for t in threads:
        t.start()
    try:
        got = recv_exact(c, len(data), timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    proxy.forward()
    proxy.delay(0)
    assert not errors
    assert got == data


def test_closed_proxy_refuses_commands(echo):
    p = FaultProxy(echo.port)
    p.close()
    p.close()  # idempotent
    with pytest.raises(RuntimeError):
        p.freeze()


def test_no_thread_or_socket_leaks(echo):
    threads0, fds0 = threading.active_count(), fd_count()
    with FaultProxy(echo.port) as p:
        socks = [socket.create_connection(("127.0.0.1", p.port)) for _ in range(3)]
        for s in socks:
            echo_round_trip(s)
        p.freeze()
        socks.append(socket.create_connection(("127.0.0.1", p.port)))  # pending
        socks[0].sendall(b"held")
        assert p.wait_connections(4, 5 * SCALE)
        p.forward()
        p.drop_new(True)
        socks.append(socket.create_connection(("127.0.0.1", p.port)))  # black hole
        assert p.wait_for(lambda s: s["blackholed"] == 1, 5 * SCALE)
        p.drop_new(False)
        p.refuse(True)
        p.refuse(False)
        p.delay(10)
        socks.append(socket.create_connection(("127.0.0.1", p.port)))
        assert p.wait_active(5, 5 * SCALE)  # 3 + pending + last (not the hole)
        thread = p._thread
        # leave some open: close() must take them down
        for s in socks[:2]:
            s.close()
    assert not thread.is_alive()
    for s in socks[2:]:
        s.close()
    echo.wait(lambda: not echo.live, what="echo connections to end")
    wait_until(lambda: threading.active_count() == threads0, 5, "threads back to baseline")
    wait_until(lambda: fd_count() == fds0, 5, "fds back to baseline")


# --------------------------------------------------------------------------
# script mode


def test_script_mode(echo, tmp_path):
    ctl = str(tmp_path / "ctl")
    proc = subprocess.Popen([sys.executable, SCRIPT, "--listen", "127.0.0.1:0",
                             "--target", f"127.0.0.1:{echo.port}", "--control", ctl],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    socks = []
    try:
        r, _, _ = select.select([proc.stdout], [], [], 10 * SCALE)
        assert r, "no port printed"
        port = int(proc.stdout.readline())
        assert os.path.exists(ctl)
        c = socket.create_connection(("127.0.0.1", port))
        socks.append(c)
        echo_round_trip(c)

        assert faultproxy.control(ctl, "freeze") == "ok"
        c.sendall(b"frozen")
        assert_silent(c)
        assert faultproxy.control(ctl, "forward") == "ok"
        assert recv_exact(c, 6) == b"frozen"

        assert faultproxy.control(ctl, "refuse on") == "ok"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port)).close()
        assert faultproxy.control(ctl, "refuse off") == "ok"
        assert faultproxy.control(ctl, "drop on") == "ok"
        hole = socket.create_connection(("127.0.0.1", port))
        socks.append(hole)
        assert faultproxy.control(ctl, "wait accepted 2 5") == "ok"
        assert faultproxy.control(ctl, "drop off") == "ok"
        assert faultproxy.control(ctl, "delay 0") == "ok"
        reply = faultproxy.control(ctl, "stats")
        assert '"accepted": 2' in reply and '"dropped": 1' in reply

        # several commands on one connection, an unknown one answered with an error
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5 * SCALE)
            s.connect(ctl)
            s.sendall(b"freeze\nbogus\nforward\n")
            buf = b""
            while buf.count(b"\n") < 3:
                data = s.recv(4096)
                assert data
                buf += data
            lines = buf.decode().splitlines()
            assert lines[0] == "ok" and lines[1].startswith("error:") and lines[2] == "ok"

        # the script's own client mode
        out = subprocess.run([sys.executable, SCRIPT, "--control", ctl, "--send", "reset"],
                             capture_output=True, text=True, timeout=10 * SCALE)
        assert out.returncode == 0 and out.stdout.strip() == "ok 2"
        assert outcome_of_read(c)[0] == "reset"
        out = subprocess.run([sys.executable, SCRIPT, "--control", ctl, "--send", "nonsense"],
                             capture_output=True, text=True, timeout=10 * SCALE)
        assert out.returncode == 1 and "error" in out.stderr

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10 * SCALE) == 0, proc.stderr.read()
        assert not os.path.exists(ctl)
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
