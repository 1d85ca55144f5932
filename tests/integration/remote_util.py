"""Helpers for the remote attach tests (test_remote.py): a throwaway OpenSSH
sshd on a loopback port running `persh bridge NAME` with a private
configuration, the project's fault-injecting proxy in front of it, and a
client configuration (INI + ssh_config + keys + known_hosts) pointing
`persh attach ALIAS/NAME` at the proxy.

Everything lives in the test's temp dir; every process started here is ended
by pid in close()."""

import os
import pwd
import re
import sys
import time

import harness as h
from sshutil import Sshd, keygen

sys.path.insert(0, str(h.HERE.parent / "faultproxy"))
from faultproxy import FaultProxy  # noqa: E402

ALIAS = "remotebox"

# The test settings of issue 5 (both ends).
HB_INTERVAL, HB_TIMEOUT = 0.5, 2.0
BACKOFF_BASE, BACKOFF_MAX = 0.1, 1.0

# client.log: "<7>2024-05-01T10:00:00.123 persh[42] debug: attach: ..."
LOG_LINE = re.compile(r"^<\d>(\S+) persh\[(\d+)\] \w+: (.*)$")


def log_time(stamp):
    """Seconds since the epoch of a log stamp 2024-05-01T10:00:00.123."""
    base, _, ms = stamp.partition(".")
    return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms or 0) / 1000.0


class Remote:
    """The far side (sshd + bridge + the daemon it starts, configured by
    env's own INI file, which this sets to the test heartbeat) and the near
    side (the client's INI and ssh_config), with a FaultProxy between."""

    def __init__(self, env, known_hosts=True):
        self.env = env
        self.dir = env.root / "remote"
        self.dir.mkdir(mode=0o700)
        # The remote daemon: env's configuration (runtime dir, log, test
        # shell) with the heartbeat settings.
        env.set("heartbeat", "interval", "500ms")
        env.set("heartbeat", "timeout", "2s")
        self.remote_cfg = env.cfg_path

        # A PATH on the far side whose `persh` is the binary under test.
        self.bindir = self.dir / "bin"
        self.bindir.mkdir()
        (self.bindir / "persh").symlink_to(h.persh_bin())
        self.rhome = self.dir / "rhome"  # HOME of the remote login (no rc files)
        self.rhome.mkdir()

        self.key = keygen(self.dir / "id_client")
        self.wrong_key = keygen(self.dir / "id_wrong")
        self.sshd = Sshd(self.dir, self.dir / "id_client.pub",
                         f"PATH={self.bindir}:/usr/bin:/bin PERSH_CONFIG={self.remote_cfg}"
                         f" HOME={self.rhome} LC_ALL=C")
        self.sshd_port = self.sshd.port

        self.proxy = FaultProxy(("127.0.0.1", self.sshd_port))
        self.port = self.proxy.port

        # Near side: ssh_config with an alias for the proxy, known_hosts, INI.
        self.known_hosts = self.dir / "known_hosts"
        hostpub = (self.dir / "ssh_host_ed25519_key.pub").read_text().split()
        self.known_line = f"[127.0.0.1]:{self.port} {hostpub[0]} {hostpub[1]}\n"
        self.known_hosts.write_text(self.known_line if known_hosts else "")
        self.ssh_config = self.write_ssh_config("ssh_config", self.key)
        self.client_cfg = self.write_client_cfg("client.ini", self.ssh_config)
        self.client_log = env.root / "client.log"

    # -- configuration

    def write_ssh_config(self, fname, key, port=None):
        path = self.dir / fname
        path.write_text("\n".join([
            f"Host {ALIAS}",
            "    HostName 127.0.0.1",
            f"    Port {port or self.port}",
            f"    User {pwd.getpwuid(os.getuid()).pw_name}",
            f"    IdentityFile {key}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {self.known_hosts}",
            "    GlobalKnownHostsFile /dev/null",
            "",
        ]))
        return path

    def write_client_cfg(self, fname, ssh_config, extra=None):
        sections = {
            "daemon": {"runtime_dir": str(self.env.root / "client-run"), "log_level": "debug"},
            "heartbeat": {"interval": "500ms", "timeout": "2s"},
            "client": {"reconnect_base": "100ms", "reconnect_max": "1s",
                       "ssh_config": str(ssh_config)},
            "ssh": {"keepalive_interval": "500ms", "keepalive_count": "3"},
        }
        for sec, kv in (extra or {}).items():
            sections.setdefault(sec, {}).update(kv)
        path = self.env.root / fname
        path.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) + "\n"
                                for s, kv in sections.items()))
        return path

    # -- the client

    def client_env(self, **extra):
        env = self.env.base_env(PERSH_CLIENT_LOG=self.client_log, PERSH_CONFIG=None,
                                SSH_AUTH_SOCK=None, SSH_AGENT_PID=None, **extra)
        return env

    def argv(self, name="s", *opts, cfg=None):
        return [h.persh_bin(), "attach", "-c", str(cfg or self.client_cfg), *opts,
                f"{ALIAS}/{name}"]

    def attach(self, name="s", *opts, cfg=None, wait_prompt=True, rows=24, cols=200):
        """`persh -c CLIENT attach ALIAS/NAME` in a harness Term; waits until it
        is attached (raw mode) and for the shell's prompt."""
        t = self.env.term(self.argv(name, *opts, cfg=cfg), rows, cols, env=self.client_env(),
                          name=f"remote-attach-{name}")
        t.wait_raw(15)
        if wait_prompt:
            t.expect(h.PROMPT, 10)
        return t

    def run_attach(self, name="s", *opts, cfg=None, timeout=10.0):
        """The client in a Term, to completion: (exit status, output text, seconds)."""
        t0 = time.monotonic()
        t = self.env.term(self.argv(name, *opts, cfg=cfg), env=self.client_env(),
                          name=f"remote-attach-{name}")
        rc = t.wait_exit(timeout)
        return rc, t.text(), time.monotonic() - t0, t

    # -- the client's debug log

    def log_lines(self):
        """[(epoch seconds, message)] of client.log."""
        try:
            text = self.client_log.read_text(errors="replace")
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            m = LOG_LINE.match(line)
            if m:
                out.append((log_time(m.group(1)), m.group(3)))
        return out

    def log_text(self):
        return "\n".join(m for _, m in self.log_lines())

    def wait_client_log(self, pattern, timeout=5.0, after=0.0, what=None):
        """The first (time, message, match) of client.log matching pattern,
        logged at or after the epoch time `after`."""
        rx = re.compile(pattern)

        def found():
            for t, msg in self.log_lines():
                m = rx.search(msg)
                if m and t >= after - 0.002:
                    return (t, msg, m)
            return None
        return h.wait_for(found, timeout, what or f"client.log line matching {pattern!r}")

    # -- the far side

    def sshd_text(self):
        return self.sshd.text()

    def note_children(self):
        self.sshd.note_children()

    # -- teardown

    def close(self):
        problems = []
        self.note_children()
        for t in self.env.terms:
            t.kill()
        try:
            self.proxy.close()
        except Exception as e:  # noqa: BLE001
            problems.append(f"faultproxy close: {e!r}")
        problems += self.sshd.close()
        return problems


# --------------------------------------------------------------------------
# parsing the numbered sequence on the client's terminal

SEQ_RX = re.compile(rb"(?<![0-9A-Za-z])L(\d+)\r\n")
# the client's status line: save cursor ... restore cursor
STATUS_RX = re.compile(rb"\x1b7.*?\x1b8", re.S)


def seq_numbers(data):
    """The numbers N of every line 'LN' printed by the sequence loop, in the
    order they reached the terminal. The typed command line itself never
    matches (it is 'echo L$i', and the terminal echo carries no digits
    after L)."""
    data = STATUS_RX.sub(b"", data)
    return [int(m.group(1)) for m in SEQ_RX.finditer(data)]


def rendered_seq_numbers(data, rows=24, cols=200):
    """The numbers of the 'LN' lines a user would see, scrolled-off lines
    included: the terminal output rendered by a terminal emulator (pyte)
    with unlimited scrollback. After a resume the client has the screen
    repainted (its status line covered a row), which repeats a screenful in
    the raw bytes but not on the terminal: what counts is what is shown."""
    import pyte

    screen = pyte.HistoryScreen(cols, rows, history=1000000, ratio=0.5)
    stream = pyte.ByteStream(screen)
    stream.feed(data)
    lines = ["".join(line[x].data for x in range(cols)) for line in screen.history.top]
    lines += screen.display
    rx = re.compile(r"^L(\d+)\s*$")
    return [int(m.group(1)) for ln in lines if (m := rx.match(ln))]


def seq_problems(nums, n):
    """What is wrong with nums as the sequence 1..n exactly once in order."""
    problems = []
    seen = set()
    prev = 0
    for x in nums:
        if x in seen:
            problems.append(f"L{x} repeated (after L{prev})")
        elif x != prev + 1:
            problems.append(f"L{x} after L{prev}")
        seen.add(x)
        prev = x
    missing = [i for i in range(1, n + 1) if i not in seen]
    if missing:
        problems.append(f"missing {len(missing)}: {missing[:10]}")
    return problems
