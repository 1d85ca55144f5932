"""Helpers for the embedded SSH endpoint tests: a client key pair and an
authorized_keys file in the test's temp dir (never ~/.ssh), the stock
OpenSSH client's command line, and a frame-level client speaking through
`ssh ... bridge NAME`."""

import os
import socket
import subprocess
import time

import harness as h


def free_port():
    """A loopback TCP port nobody listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def keygen(path, kind="ed25519"):
    """A new key pair at path / path.pub, no passphrase."""
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "persh-test", "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return path


def fingerprint(pub):
    """'SHA256:...' of a public key file."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


class SSH:
    """The endpoint's settings in env's configuration, and the stock ssh
    client pointed at it. The ssh processes behind bridge() are ended by
    close()."""

    def __init__(self, env, **settings):
        self.env = env
        self.dir = env.root / "ssh"
        self.dir.mkdir(mode=0o700)
        self.key = keygen(self.dir / "id_ed25519")
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.write_text((self.dir / "id_ed25519.pub").read_text())
        self.authorized_keys.chmod(0o600)
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.known_hosts = self.dir / "known_hosts"
        self.port = free_port()
        self.procs = []
        conf = {
            "listen": f"127.0.0.1:{self.port}",
            "host_key": str(self.host_key),
            "authorized_keys": str(self.authorized_keys),
            "keepalive_interval": "1s",
            "keepalive_count": "3",
            "login_grace": "5s",
        }
        conf.update(settings)
        for k, v in conf.items():
            env.set("ssh", k, v)

    def start_daemon(self):
        d = self.env.start_daemon()
        self.env.wait_log(r"SSH endpoint listening on", 5)
        return d

    def argv(self, *cmd, key=None, tty=None, opts=(), port=None):
        """ssh's argv. tty: None (ssh decides), "t" (-t), "tt" (-tt), "T" (-T)."""
        a = ["ssh", "-F", "/dev/null",
             "-o", "StrictHostKeyChecking=no",
             "-o", f"UserKnownHostsFile={self.known_hosts}",
             "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
             "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
             "-i", str(key or self.key), "-p", str(port or self.port)]
        if tty is not None:
            a.append("-" + tty)
        a += list(opts)
        a.append("127.0.0.1")
        a += list(cmd)
        return a

    def run(self, *cmd, timeout=15.0, **kw):
        """Run ssh to completion without a terminal; .out and .err are text."""
        p = subprocess.run(self.argv(*cmd, **kw), stdin=subprocess.DEVNULL, capture_output=True,
                           env=self.env.base_env(), timeout=timeout * h.SCALE,
                           start_new_session=True)
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        return p

    def term(self, *cmd, rows=24, cols=100, name=None, **kw):
        """ssh -tt in a real terminal (the harness Term)."""
        return self.env.term(self.argv(*cmd, tty="tt", **kw), rows, cols,
                             name=name or f"ssh-{len(self.env.terms)}")

    def bridge(self, name, **kw):
        """`ssh ... bridge NAME` with a socket for its stdin and stdout,
        wrapped in a frame-level client."""
        ours, theirs = socket.socketpair()
        p = subprocess.Popen(self.argv("bridge", name, tty="T", **kw), stdin=theirs,
                             stdout=theirs, stderr=subprocess.PIPE, env=self.env.base_env(),
                             start_new_session=True)
        theirs.close()
        self.procs.append(p)
        return BridgeClient(ours, p)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            if p.stderr is not None:
                p.stderr.close()


class BridgeClient(h.RawClient):
    """harness.RawClient over the stdin/stdout of an ssh process instead of
    the control socket: the same frame-level calls (hello, handshake,
    attach, expect, read_output)."""

    def __init__(self, sock, proc, heartbeat=0.2):
        self.sock = sock
        self.sock.setblocking(False)
        self.proc = proc
        self.inbuf = bytearray()
        self.closed = False
        self.send_failed = None
        self.heartbeat = heartbeat
        self.said_hello = False
        self.last_sent = time.monotonic()
        self.frames = []

    def end_input(self):
        """EOF on ssh's stdin."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
