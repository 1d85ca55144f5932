#!/usr/bin/python3
"""faultproxy: a fault-injecting TCP proxy for persh's integration tests.

It listens on a local port and forwards every accepted connection to one
fixed target. A test switches it, at any time and from any thread, between:

  forward()        normal forwarding (also lifts refuse/drop; keeps delay)
  freeze()         no byte moves in either direction, nothing is closed and
                   nothing more is read, so kernel buffers fill and TCP flow
                   control pushes back; bytes already read are held and
                   delivered, in order, after forward()
  reset()          every current connection is aborted with RST on both
                   sides, then the proxy is back to forward()
  refuse(on)       new connections get a RST to their SYN (ECONNREFUSED):
                   the listener stops listening; existing ones carry on
  drop_new(on)     new connections complete the TCP handshake but are never
                   connected to the target nor answered (a black hole)
  delay(ms)        every chunk is held ms milliseconds each way

One background thread runs one epoll loop; the mode calls return once the
loop has applied them (so after freeze() returns, nothing more moves).

As a script (see --help), it prints the chosen port on stdout and takes the
same commands, one per line, on a Unix control socket, answering each with
"ok" (or "ok {json}" for "stats") or "error: ...".

Linux only (epoll, shutdown() of a listening socket). Standard library only.
"""

import argparse
import collections
import errno
import json
import os
import queue
import random
import select
import signal
import socket
import stat
import struct
import sys
import threading
import time

__all__ = ["FaultProxy", "control"]

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_RDHUP = select.EPOLLRDHUP

CHUNK = 65536

# connection states
_PENDING = "pending"        # accepted while frozen: upstream not connected yet
_CONNECTING = "connecting"  # upstream connect() in progress
_OPEN = "open"
_CLOSED = "closed"


# Ports handed out by free_port() in this process, never handed out twice.
_given_ports = set()


def free_port():
    """A loopback TCP port for a server the caller is about to start.

    bind(0) would return a port from the kernel's ephemeral range, and
    between our close() and the server's bind() any connect() or bind(0)
    on the machine may be handed that same port ("Address already in use").
    So pick below the ephemeral range, where the kernel never allocates,
    and check that nothing holds the port now."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = min(low, 65536) - 1
    base = 10000 if top - 10000 >= 2000 else 1024
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        port = rng.randrange(base, top)
        if port in _given_ports:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _given_ports.add(port)
        return port
    raise OSError(f"no free loopback port in {base}..{top}")


def _parse_addr(value, default_host="127.0.0.1"):
    """(host, port) from a tuple, an int port, "host:port" or "[v6]:port"."""
    if isinstance(value, int):
        return (default_host, value)
    if isinstance(value, (tuple, list)):
        return (str(value[0]), int(value[1]))
    host, sep, port = str(value).rpartition(":")
    if not sep:
        raise ValueError(f"address {value!r}: expected HOST:PORT")
    host = host.strip("[]") or default_host
    return (host, int(port))


def _resolve(addr):
    host, port = addr
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if not infos:
        raise OSError(f"cannot resolve {host}:{port}")
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _abort_sock(sock):
    """Close with RST (SO_LINGER on, timeout 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Dir:
    """One direction of a connection: bytes read from src, not yet written
    to dst. buf holds (due_time, bytes-like) chunks in order."""

    __slots__ = ("name", "src", "dst", "buf", "size", "eof", "shut")

    def __init__(self, name):
        self.name = name
        self.src = None
        self.dst = None
        self.buf = collections.deque()
        self.size = 0
        self.eof = False   # src gave EOF
        self.shut = False  # dst shut down for writing (EOF passed on)


class _Conn:
    __slots__ = ("id", "c", "u", "state", "up", "down", "peer")

    def __init__(self, cid, csock, peer):
        self.id = cid
        self.c = csock
        self.u = None
        self.peer = peer
        self.state = _PENDING
        self.up = _Dir("up")      # client -> target
        self.down = _Dir("down")  # target -> client

    def socks(self):
        return [s for s in (self.c, self.u) if s is not None]


class _Box:
    __slots__ = ("event", "result", "error")

    def __init__(self):
        self.event = threading.Event()
        self.result = None
        self.error = None


class FaultProxy:
    """A fault-injecting TCP proxy running in a background thread.

    FaultProxy(target, listen=("127.0.0.1", 0), bufsize=256 KiB, delay_ms=0)

    target / listen: (host, port), "host:port", or an int port on 127.0.0.1.
    bufsize: bytes held per direction per connection before the proxy stops
    reading that side (back-pressure). Starts at once; .port is the port it
    listens on. Use as a context manager, or call close().
    """

    COMMAND_TIMEOUT = 10.0

    def __init__(self, target, listen=("127.0.0.1", 0), *, bufsize=256 * 1024,
                 delay_ms=0, backlog=128):
        self.target = _parse_addr(target)
        self._tfamily, self._taddr = _resolve(self.target)
        self._bufsize = int(bufsize)
        self._backlog = int(backlog)
        self._delay = max(0.0, float(delay_ms) / 1000.0)
        self._delay_used = self._delay > 0
        self._frozen = False
        self._refusing = False
        self._dropping = False

        self._conns = {}        # id -> _Conn
        self._holes = {}        # fd -> socket (black-holed connections)
        self._fds = {}          # fd -> (kind, obj)
        self._masks = {}        # fd -> registered epoll mask
        self._next_id = 1

        self._cond = threading.Condition()
        self._stats = dict(accepted=0, active=0, closed=0, dropped=0, blackholed=0,
                           resets=0, connect_failures=0, bytes_up=0, bytes_down=0,
                           buffered_up=0, buffered_down=0)
        self._cmds = queue.SimpleQueue()
        self._cmd_lock = threading.Lock()
        self._dead = False
        self._error = None
        self._closed = False
        self._stopping = False

        self._ep = select.epoll()
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._lsock = self._make_listener(_parse_addr(listen))
            self.address = self._lsock.getsockname()[:2]
            self.port = self.address[1]
            self._register(self._wake_r, _IN, ("wake", None))
            self._register(self._lsock, _IN, ("listen", None))
        except BaseException:
            self._ep.close()
            self._wake_r.close()
            self._wake_w.close()
            if getattr(self, "_lsock", None) is not None:
                self._lsock.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"faultproxy:{self.port}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------
    # public API (any thread)

    def forward(self):
        """Normal forwarding: unfreeze, stop refusing, stop dropping (the
        delay, if any, stays). Held bytes are delivered."""
        self._call(self._do_forward)

    def freeze(self):
        """Stop moving bytes both ways on every connection, current and new,
        without closing or reading anything more."""
        self._call(self._do_freeze)

    def reset(self):
        """Abort every current connection (and black hole) with RST on both
        sides, then return to forward(). Returns how many were aborted."""
        return self._call(self._do_reset)

    def refuse(self, on=True):
        """New connections are refused (RST to the SYN, ECONNREFUSED) while
        on; existing connections are unaffected."""
        self._call(self._do_refuse, bool(on))

    def drop_new(self, on=True):
        """New connections are accepted but never connected nor answered
        while on (existing black holes stay until the client closes them)."""
        self._call(self._do_drop, bool(on))

    def delay(self, ms):
        """Hold each chunk ms milliseconds in each direction (0: none)."""
        self._call(self._do_delay, max(0.0, float(ms) / 1000.0))

    def stats(self):
        """A snapshot of the counters and mode:
        accepted      connections accepted (forwarded and black-holed)
        active        forwarded connections open now (incl. frozen/connecting)
        closed        forwarded connections ended, any reason
        dropped       connections black-holed (total); blackholed: now
        resets        connections aborted by reset()
        connect_failures  upstream connects that failed (client got RST)
        bytes_up      bytes delivered to the target (client -> target)
        bytes_down    bytes delivered to clients (target -> client)
        buffered_up / buffered_down  bytes read but not yet written
        frozen, refusing, dropping, delay_ms  the mode"""
        with self._cond:
            s = dict(self._stats)
        s.update(frozen=self._frozen, refusing=self._refusing, dropping=self._dropping,
                 delay_ms=self._delay * 1000.0)
        return s

    @property
    def accepted(self):
        return self.stats()["accepted"]

    @property
    def active(self):
        return self.stats()["active"]

    @property
    def bytes_up(self):
        return self.stats()["bytes_up"]

    @property
    def bytes_down(self):
        return self.stats()["bytes_down"]

    def wait_for(self, pred, timeout=5.0):
        """Wait until pred(stats()) is true; True, or False at the deadline."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                if pred(self.stats()):
                    return True
                left = end - time.monotonic()
                if left <= 0 or self._dead:
                    return bool(pred(self.stats()))
                self._cond.wait(min(left, 0.5))

    def wait_connections(self, n, timeout=5.0):
        """Wait until at least n connections were accepted in total."""
        return self.wait_for(lambda s: s["accepted"] >= n, timeout)

    def wait_active(self, n, timeout=5.0):
        """Wait until exactly n forwarded connections are open."""
        return self.wait_for(lambda s: s["active"] == n, timeout)

    def close(self):
        """Close every connection and the listener, stop and join the loop
        thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            try:
                self._call(self._do_stop)
            except RuntimeError:
                pass
            self._thread.join(self.COMMAND_TIMEOUT)
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"faultproxy loop failed: {err!r}") from err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<FaultProxy 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]}>"

    # ------------------------------------------------------------------
    # command plumbing

    def _call(self, fn, *args):
        if threading.current_thread() is self._thread:
            return fn(*args)
        box = _Box()
        with self._cmd_lock:
            if self._dead:
                raise RuntimeError("faultproxy is closed" if self._error is None
                                   else f"faultproxy loop failed: {self._error!r}")
            self._cmds.put((fn, args, box))
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already a wake-up pending (or closing: teardown answers)
        if not box.event.wait(self.COMMAND_TIMEOUT):
            raise RuntimeError("faultproxy loop did not answer")
        if box.error is not None:
            raise box.error
        return box.result

    def _run_commands(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            try:
                fn, args, box = self._cmds.get_nowait()
            except queue.Empty:
                return
            try:
                box.result = fn(*args)
            except Exception as e:  # reported to the caller
                box.error = e
            box.event.set()

    # ------------------------------------------------------------------
    # commands (loop thread)

    def _do_forward(self):
        self._frozen = False
        self._do_refuse(False)
        self._dropping = False
        for conn in list(self._conns.values()):
            if conn.state == _PENDING:
                self._start_connect(conn)
            else:
                self._update(conn)
                # bytes that were due during the freeze go out now
                self._pump(conn)

    def _do_freeze(self):
        self._frozen = True
        for conn in list(self._conns.values()):
            self._update(conn)

    def _do_reset(self):
        n = 0
        for conn in list(self._conns.values()):
            self._abort(conn)
            n += 1
        for fd, sock in list(self._holes.items()):
            self._close_hole(fd, abort=True)
            n += 1
        self._bump(resets=n)
        self._do_forward()
        return n

    def _do_refuse(self, on):
        if on == self._refusing:
            return
        if on:
            self._unregister(self._lsock)
            # A listening TCP socket shut down for reading goes back to CLOSE
            # but keeps its port (bound explicitly): SYNs now get a RST.
            self._lsock.shutdown(socket.SHUT_RD)
            self._refusing = True
        else:
            self._lsock.listen(self._backlog)
            self._register(self._lsock, _IN, ("listen", None))
            self._refusing = False

    def _do_drop(self, on):
        self._dropping = on

    def _do_delay(self, seconds):
        self._delay = seconds
        if seconds > 0:
            self._delay_used = True

    def _do_stop(self):
        self._stopping = True

    # ------------------------------------------------------------------
    # loop

    def _make_listener(self, addr):
        family, sockaddr = _resolve(addr)
        probe = None
        if sockaddr[1] == 0:
            # Bind the real listener to an explicit port, so that refuse()
            # (shutdown of the listener) keeps the port: a socket bound to
            # port 0 gives its port back when it leaves LISTEN.
            probe = socket.socket(family, socket.SOCK_STREAM)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
            sockaddr = (sockaddr[0], probe.getsockname()[1]) + tuple(sockaddr[2:])
        ls = socket.socket(family, socket.SOCK_STREAM)
        try:
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(sockaddr)
            ls.listen(self._backlog)
            ls.setblocking(False)
        except BaseException:
            ls.close()
            raise
        finally:
            if probe is not None:
                probe.close()
        return ls

    def _run(self):
        try:
            while not self._stopping:
                events = self._ep.poll(self._timeout())
                for fd, ev in events:
                    ent = self._fds.get(fd)
                    if ent is None:
                        continue
                    kind, obj = ent
                    if kind == "conn":
                        self._conn_event(obj, fd, ev)
                    elif kind == "wake":
                        self._run_commands()
                    elif kind == "listen":
                        self._accept()
                    elif kind == "hole":
                        self._close_hole(fd)
                if self._delay_used and not self._frozen:
                    for conn in list(self._conns.values()):
                        if conn.state == _OPEN:
                            self._pump(conn)
        except BaseException as e:  # keep it for close() and the callers
            self._error = e
        finally:
            self._teardown()

    def _timeout(self):
        if not self._delay_used or self._frozen:
            return -1
        now = time.monotonic()
        best = None
        for conn in self._conns.values():
            if conn.state != _OPEN:
                continue
            for d in (conn.up, conn.down):
                if d.buf:
                    due = d.buf[0][0]
                    if due > now and (best is None or due < best):
                        best = due
        if best is None:
            return -1
        return max(0.0, best - now) + 0.0005

    def _teardown(self):
        with self._cmd_lock:
            self._dead = True
        for conn in list(self._conns.values()):
            self._close_conn(conn)
        for fd in list(self._holes):
            self._close_hole(fd)
        for sock in (self._lsock, self._wake_r, self._wake_w):
            sock.close()
        self._fds.clear()
        self._masks.clear()
        self._ep.close()
        # answer whatever is still queued
        while True:
            try:
                fn, args, box = self._cmds.get_nowait()
            except queue.Empty:
                break
            if fn == self._do_stop:
                box.result = None
            else:
                box.error = RuntimeError("faultproxy is closed")
            box.event.set()
        with self._cond:
            self._cond.notify_all()

    # -- epoll bookkeeping

    def _register(self, sock, mask, ent):
        fd = sock.fileno()
        self._fds[fd] = ent
        self._ep.register(fd, mask)
        self._masks[fd] = mask

    def _unregister(self, sock):
        fd = sock.fileno()
        if fd < 0:
            return
        if fd in self._masks:
            del self._masks[fd]
            try:
                self._ep.unregister(fd)
            except OSError:
                pass
        self._fds.pop(fd, None)

    def _set_mask(self, sock, mask, ent):
        fd = sock.fileno()
        old = self._masks.get(fd, 0)
        self._fds[fd] = ent
        if mask == old:
            return
        if mask == 0:
            del self._masks[fd]
            self._ep.unregister(fd)
        elif old == 0:
            self._ep.register(fd, mask)
            self._masks[fd] = mask
        else:
            self._ep.modify(fd, mask)
            self._masks[fd] = mask

    def _bump(self, **kw):
        with self._cond:
            for k, v in kw.items():
                self._stats[k] += v
            self._cond.notify_all()

    # -- accepting

    def _accept(self):
        for _ in range(64):
            try:
                sock, peer = self._lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    return
                raise
            sock.setblocking(False)
            if self._dropping:
                fd = sock.fileno()
                self._holes[fd] = sock
                self._fds[fd] = ("hole", sock)
                # only to notice the client giving up; nothing is ever read
                self._ep.register(fd, _RDHUP)
                self._masks[fd] = _RDHUP
                self._bump(accepted=1, dropped=1, blackholed=1)
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            conn = _Conn(self._next_id, sock, peer)
            self._next_id += 1
            self._conns[conn.id] = conn
            self._fds[sock.fileno()] = ("conn", conn)
            self._bump(accepted=1, active=1)
            if not self._frozen:
                self._start_connect(conn)

    def _close_hole(self, fd, abort=False):
        sock = self._holes.pop(fd, None)
        if sock is None:
            return
        self._unregister(sock)
        if abort:
            _abort_sock(sock)
        else:
            sock.close()
        self._bump(blackholed=-1)

    # -- connections

    def _start_connect(self, conn):
        u = socket.socket(self._tfamily, socket.SOCK_STREAM)
        u.setblocking(False)
        try:
            u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        conn.u = u
        conn.up.src, conn.up.dst = conn.c, u
        conn.down.src, conn.down.dst = u, conn.c
        self._fds[u.fileno()] = ("conn", conn)
        err = u.connect_ex(self._taddr)
        if err in (0, errno.EINPROGRESS, errno.EALREADY, errno.EINTR):
            conn.state = _CONNECTING
            if err == 0:
                conn.state = _OPEN
            self._update(conn)
        else:
            self._bump(connect_failures=1)
            self._abort(conn)

    def _finish_connect(self, conn):
        err = conn.u.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            try:
                conn.u.getpeername()
            except OSError as e:
                if e.errno == errno.ENOTCONN:
                    return  # spurious wake-up: still connecting
                err = e.errno or errno.ECONNREFUSED
        if err:
            self._bump(connect_failures=1)
            self._abort(conn)
            return
        conn.state = _OPEN
        self._update(conn)

    def _update(self, conn):
        """Register exactly the interest each socket of conn needs now."""
        if conn.state == _CLOSED:
            return
        ent = ("conn", conn)
        if self._frozen or conn.state == _PENDING:
            for s in conn.socks():
                self._set_mask(s, 0, ent)
            return
        if conn.state == _CONNECTING:
            self._set_mask(conn.c, 0, ent)
            self._set_mask(conn.u, _OUT, ent)
            return
        now = time.monotonic()
        masks = {conn.c.fileno(): 0, conn.u.fileno(): 0}
        for d in (conn.up, conn.down):
            if not d.eof and d.size < self._bufsize:
                masks[d.src.fileno()] |= _IN
            if d.buf and d.buf[0][0] <= now:
                masks[d.dst.fileno()] |= _OUT
        self._set_mask(conn.c, masks[conn.c.fileno()], ent)
        self._set_mask(conn.u, masks[conn.u.fileno()], ent)

    def _conn_event(self, conn, fd, ev):
        if conn.state == _CLOSED or self._frozen:
            return
        if conn.state == _CONNECTING:
            if conn.u is not None and fd == conn.u.fileno():
                self._finish_connect(conn)
            return
        if conn.state != _OPEN:
            return
        if fd == conn.c.fileno():
            rd, wr = conn.up, conn.down
        else:
            rd, wr = conn.down, conn.up
        mask = self._masks.get(fd, 0)
        if mask & _IN and ev & (_IN | select.EPOLLERR | select.EPOLLHUP):
            self._read(conn, rd)
        if conn.state == _CLOSED:
            return
        if mask & _OUT and ev & (_OUT | select.EPOLLERR | select.EPOLLHUP):
            self._write(conn, wr)
        if conn.state != _CLOSED:
            self._update(conn)

    def _read(self, conn, d):
        room = self._bufsize - d.size
        if room <= 0 or d.eof:
            return
        try:
            data = d.src.recv(min(CHUNK, room))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._abort(conn)
            return
        if not data:
            d.eof = True
            self._finish_dir(conn, d)
            return
        now = time.monotonic()
        d.buf.append((now + self._delay, data))
        d.size += len(data)
        self._bump(**{"buffered_" + d.name: len(data)})
        if self._delay == 0:
            self._write(conn, d)

    def _write(self, conn, d):
        if self._frozen or conn.state != _OPEN:
            return
        now = time.monotonic()
        sent = 0
        while d.buf:
            due, data = d.buf[0]
            if due > now:
                break
            try:
                n = d.dst.send(data)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if sent:
                    self._bump(**{"bytes_" + d.name: sent, "buffered_" + d.name: -sent})
                self._abort(conn)
                return
            sent += n
            d.size -= n
            if n < len(data):
                d.buf[0] = (due, memoryview(data)[n:])
                break
            d.buf.popleft()
        if sent:
            self._bump(**{"bytes_" + d.name: sent, "buffered_" + d.name: -sent})
        self._finish_dir(conn, d)

    def _finish_dir(self, conn, d):
        """Pass an EOF on once everything before it was written."""
        if d.eof and not d.buf and not d.shut and not self._frozen:
            try:
                d.dst.shutdown(socket.SHUT_WR)
            except OSError:
                self._abort(conn)
                return
            d.shut = True
            if conn.up.shut and conn.down.shut:
                self._close_conn(conn)

    def _pump(self, conn):
        """Write whatever is due in both directions, then re-arm."""
        if conn.state != _OPEN:
            return
        for d in (conn.up, conn.down):
            if conn.state == _OPEN and d.buf and d.buf[0][0] <= time.monotonic():
                self._write(conn, d)
            if conn.state == _OPEN:
                self._finish_dir(conn, d)
        self._update(conn)

    def _drop_conn(self, conn):
        held = {"buffered_up": -conn.up.size, "buffered_down": -conn.down.size}
        conn.up.buf.clear()
        conn.down.buf.clear()
        conn.up.size = conn.down.size = 0
        conn.state = _CLOSED
        self._conns.pop(conn.id, None)
        self._bump(active=-1, closed=1, **held)

    def _close_conn(self, conn):
        if conn.state == _CLOSED:
            return
        for s in conn.socks():
            self._unregister(s)
            s.close()
        self._drop_conn(conn)

    def _abort(self, conn):
        if conn.state == _CLOSED:
            return
        for s in conn.socks():
            self._unregister(s)
            _abort_sock(s)
        self._drop_conn(conn)


# ----------------------------------------------------------------------
# script mode


def _handle_command(proxy, line):
    words = line.split()
    if not words:
        return None
    cmd, args = words[0].lower(), [w.lower() for w in words[1:]]

    def onoff():
        if len(args) != 1 or args[0] not in ("on", "off"):
            raise ValueError(f"usage: {cmd} on|off")
        return args[0] == "on"

    if cmd == "forward" and not args:
        proxy.forward()
    elif cmd == "freeze" and not args:
        proxy.freeze()
    elif cmd == "reset" and not args:
        return "ok %d" % proxy.reset()
    elif cmd == "refuse":
        proxy.refuse(onoff())
    elif cmd in ("drop", "drop_new"):
        proxy.drop_new(onoff())
    elif cmd == "delay" and len(args) == 1:
        proxy.delay(float(args[0]))
    elif cmd == "stats" and not args:
        return "ok " + json.dumps(proxy.stats(), sort_keys=True)
    elif cmd == "wait" and len(args) in (2, 3) and args[0] in ("accepted", "active"):
        n = int(args[1])
        timeout = float(args[2]) if len(args) == 3 else 5.0
        ok = (proxy.wait_connections(n, timeout) if args[0] == "accepted"
              else proxy.wait_active(n, timeout))
        return "ok" if ok else "error: timeout"
    else:
        raise ValueError(f"unknown command {line.strip()!r}")
    return "ok"


def _serve_control_client(proxy, conn):
    with conn:
        buf = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    reply = _handle_command(proxy, line.decode("utf-8", "replace"))
                except Exception as e:
                    reply = f"error: {e}"
                if reply is None:
                    continue
                try:
                    conn.sendall(reply.encode() + b"\n")
                except OSError:
                    return


def control(path, command, timeout=10.0):
    """Send one command to a faultproxy script's control socket; return its
    reply line (without the newline). Raises RuntimeError on "error: ..."."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.strip().encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            data = s.recv(4096)
            if not data:
                break
            buf += data
    reply = buf.split(b"\n", 1)[0].decode()
    if not reply.startswith("ok"):
        raise RuntimeError(reply or "no reply")
    return reply


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Fault-injecting TCP proxy. Prints the listening port on stdout, then "
                    "takes commands on the control socket, one per line: forward, freeze, "
                    "reset, refuse on|off, drop on|off, delay MS, stats, "
                    "wait accepted|active N [TIMEOUT]. Each is answered 'ok...' or "
                    "'error: ...'. SIGTERM/SIGINT close everything and exit 0.")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free port)")
    ap.add_argument("--target", help="HOST:PORT every connection is forwarded to")
    ap.add_argument("--control", help="path of the Unix control socket")
    ap.add_argument("--delay", type=float, default=0, help="initial delay each way, ms")
    ap.add_argument("--bufsize", type=int, default=256 * 1024,
                    help="bytes held per direction per connection (default 262144)")
    ap.add_argument("--send", metavar="COMMAND",
                    help="client mode: send COMMAND to the proxy at --control, print the reply")
    a = ap.parse_args(argv)

    if a.send is not None:
        if not a.control:
            ap.error("--send needs --control")
        try:
            print(control(a.control, a.send))
        except (RuntimeError, OSError) as e:
            print(f"faultproxy: {e}", file=sys.stderr)
            return 1
        return 0
    if not a.target:
        ap.error("--target is required")

    def on_signal(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    proxy = FaultProxy(a.target, a.listen, delay_ms=a.delay, bufsize=a.bufsize)
    ctl = None
    try:
        if a.control:
            try:
                if stat.S_ISSOCK(os.lstat(a.control).st_mode):
                    os.unlink(a.control)
            except FileNotFoundError:
                pass
            ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ctl.bind(a.control)
            ctl.listen(16)
        print(proxy.port, flush=True)
        if ctl is None:
            while True:
                signal.pause()
        while True:
            conn, _ = ctl.accept()
            threading.Thread(target=_serve_control_client, args=(proxy, conn),
                             daemon=True).start()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if ctl is not None:
            ctl.close()
            try:
                os.unlink(a.control)
            except OSError:
                pass
        proxy.close()


if __name__ == "__main__":
    sys.exit(main())
