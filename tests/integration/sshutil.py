"""Helpers for the SSH tests: a client key pair and an authorized_keys file
in the test's temp dir (never ~/.ssh), the stock OpenSSH client's command
line, a frame-level client speaking through `ssh ... bridge NAME`, and a
throwaway stock OpenSSH sshd (remote attach and relay tests)."""

import os
import signal
import socket
import subprocess
import sys
import time

import harness as h


sys.path.insert(0, str(h.HERE.parent / "faultproxy"))
from faultproxy import free_port  # noqa: E402,F401  (re-exported to the tests)


def keygen(path, kind="ed25519"):
    """A new key pair at path / path.pub, no passphrase."""
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "persh-test", "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return path


SSHD = "/usr/sbin/sshd"


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


class Sshd:
    """A throwaway stock OpenSSH sshd on a loopback port, everything in dir:
    its own host key, an authorized_keys file holding the public key
    client_pub, its log; logins get the environment setenv ("K=V ...").
    close() ends it and, by pid, the per-connection sshds and what runs
    under them."""

    def __init__(self, dir, client_pub, setenv):
        self.dir = dir
        self.host_key = keygen(dir / "ssh_host_ed25519_key")
        self.authorized_keys = dir / "authorized_keys"
        self.authorized_keys.write_text(client_pub.read_text())
        self.authorized_keys.chmod(0o600)
        self.port = free_port()
        self.log = dir / "sshd.log"
        self.config = dir / "sshd_config"
        self.config.write_text("\n".join([
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "X11Forwarding no",
            "AcceptEnv none",
            "ClientAliveInterval 0",
            "MaxStartups 50",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            f"SetEnv {setenv}",
            "",
        ]))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privsep dir
        self.err = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err,
            env={"PATH": "/usr/sbin:/usr/bin:/bin", "LC_ALL": "C"},
            start_new_session=True, close_fds=True)
        self.children = set()  # (pid, starttime) of per-connection sshds and theirs

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited {self.proc.returncode}: {self.text()}")
            return port_open(self.port)
        h.wait_for(up, 5, "sshd to listen")

    def text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def note_children(self):
        """Remember sshd's per-connection children and what runs under them
        (bridges), so close() ends them even after sshd is gone."""
        if self.proc.poll() is None:
            self.children |= set(h.descendants(self.proc.pid))

    def close(self):
        """End everything; a list of problems seen (empty if none)."""
        problems = []
        if self.proc.poll() is None:
            self.note_children()
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                problems.append(f"sshd {self.proc.pid} ignored SIGTERM")
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # Per-connection sshds and bridges end when their connection closes;
        # anything left is ended here.
        for p, st in self.children:
            if h.pid_running(p, st):
                h.kill_quietly(p, signal.SIGTERM)
        try:
            h.wait_for(lambda: not any(h.pid_running(p, st) for p, st in self.children),
                       3, "sshd children to end")
        except h.Timeout:
            for p, st in self.children:
                if h.pid_running(p, st):
                    h.kill_quietly(p, signal.SIGKILL)
        self.err.close()
        return problems


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
