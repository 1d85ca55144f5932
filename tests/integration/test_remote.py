"""Remote attach that survives dead links (issue 5), end to end through a
stock OpenSSH sshd: `persh attach ALIAS/NAME` (libssh client, ssh_config
alias, known_hosts) -> the project's fault-injecting proxy -> a throwaway
sshd on a loopback port -> `persh bridge NAME` -> the far side's daemon
(auto-started, private runtime dir). Both ends use the issue's test
settings: heartbeat 0.5 s / 2 s timeout, SSH keepalive 0.5 s x 3, reconnect
backoff 0.1 s .. 1 s.

Every assertion is something a user would notice: the client's terminal
(every line of a numbered sequence exactly once and in order, the status
line, keystrokes held while down), its exit status and message, and the
far side's `persh ls`. Timings come from the client's debug log
(PERSH_CLIENT_LOG, state changes with millisecond stamps) and from the
moment the proxy applied a fault."""

import os
import re
import subprocess
import time

import pytest

import harness as h
from harness import shell_run, wait_for
from remote_util import (rendered_seq_numbers, ALIAS, BACKOFF_BASE, BACKOFF_MAX, HB_INTERVAL, HB_TIMEOUT,
                         Remote, seq_numbers, seq_problems)
from sshutil import SSHD, free_port

DETACH_KEY = b"\x1c"
N = 300              # lines in the sequence
RATE = 0.02          # seconds between lines (plus a fork of sleep)
# Slack on top of a bound for scheduling on a busy 2-core machine.
MARGIN = 1.0 * h.SCALE
# The client checks the heartbeat deadline once per interval: a silent link
# is declared dead between timeout and timeout + interval after it froze.
DETECT_MAX = HB_TIMEOUT + HB_INTERVAL + MARGIN
STATUS_RX = re.compile(rb"persh: link lost (\d+)s ago, reconnecting \(attempt (\d+)\)\.\.\.")
RETRY_RX = r"^attach: retry (\d+) in (\d+) ms$"
BACK_RX = r"^attach: back after (\d+) ms, (\d+) attempts, (resumed|redrawn) from offset (\d+)$"

FIGURES = {}  # measured timings (and a few outcomes), printed at the end of the module
ERASE = b"\x1b7\x1b[24;1H\x1b[0m\x1b[K\x1b8"  # the status line taken away (24 rows)


@pytest.fixture(scope="module", autouse=True)
def print_figures():
    yield
    if FIGURES:
        print("\n--- remote attach figures (seconds)")
        for k, v in FIGURES.items():
            print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")


@pytest.fixture
def remote(env, request):
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"{SSHD} is not installed (Debian: openssh-server)")
    r = Remote(env)
    yield r
    stats = r.proxy.stats()
    problems = r.close()
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed or problems:
        print(f"--- client.log\n{r.log_text()[-4000:]}")
        print(f"--- sshd log\n{r.sshd_text()[-3000:]}")
        print(f"--- proxy {stats}")
    assert not problems, problems


# --------------------------------------------------------------------------
# helpers


def shell_pid(term):
    m = h.marker()
    term.sendline(f"echo {m}PID:$(( $$ + 0 ))")
    return int(term.expect(rf"{m}PID:(\d+)", 10).group(1))


def start_sequence(t, n=N):
    """Print L1..Ln at a steady rate, then DONE<n>."""
    t.sendline(f"i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo L$i; sleep {RATE}; done;"
               f" echo DONE$(({n}+0))")


def last_seen(t):
    return max(seq_numbers(t.output()) or [0])


def wait_line(t, k, timeout=10.0):
    """Wait until line L>=k reached the terminal."""
    return t.wait_output(lambda b: max(seq_numbers(b) or [0]) >= k, timeout, f"L{k}")


def wait_new_line(t, after, timeout):
    """Wait for a line beyond `after`; the monotonic time it was seen."""
    t.wait_output(lambda b: max(seq_numbers(b) or [0]) > after, timeout, f"a line after L{after}")
    return time.monotonic()


def finish_sequence(t, remote, n=N):
    """The sequence ended: every line arrived exactly once, in order."""
    t.expect(f"DONE{n}\r\n".encode(), 30)
    nums = rendered_seq_numbers(t.output())
    problems = seq_problems(nums, n)
    assert not problems, f"sequence damaged: {problems}; client.log:\n{remote.log_text()}"


def retries(remote, after=0.0):
    """[(attempt, delay ms)] of the 'retry N in X ms' lines."""
    out = []
    for ts, msg in remote.log_lines():
        m = re.match(RETRY_RX, msg)
        if m and ts >= after - 0.002:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


ANSI_RX = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[78=>])")


def client_messages(text):
    """The client's own lines (persh: ... / [persh: ...]) in terminal text."""
    text = ANSI_RX.sub("", text).replace("\r", "\n")
    return [ln.strip() for ln in text.split("\n")
            if ln.strip().startswith(("persh:", "[persh:"))]


def one_line(text):
    lines = [ln for ln in text.replace("\r", "").split("\n") if ln.strip()]
    assert len(lines) == 1, f"expected one line, got {lines!r}"
    return lines[0]


def lose_and_come_back(t, remote, fault, hold, label):
    """The common shape of the freeze/reset tests: a sequence running, a
    fault at L40 held `hold` seconds, then forwarding again. Asserts
    detection, reconnection and resume timings; returns the figures."""
    shell_pid(t)
    start_sequence(t)
    wait_line(t, 40)
    t_fault = time.time()
    fault()
    fault_mono = time.monotonic()
    if hold:
        time.sleep(hold)  # the fault itself: hold the link down this long
    last = last_seen(t)
    t_restore = time.time()
    restore_mono = time.monotonic()
    remote.proxy.forward()
    first_mono = wait_new_line(t, last, BACKOFF_MAX + 2 * HB_TIMEOUT + MARGIN)

    closed_ts, msg, _ = remote.wait_client_log(r"^attach: link closed", 5, after=t_fault)
    back_ts, back, m = remote.wait_client_log(BACK_RX, 5, after=t_fault)
    detect = closed_ts - t_fault
    back_after_restore = back_ts - t_restore
    first_byte = first_mono - (restore_mono if hold else fault_mono)
    FIGURES[f"{label}: loss detected after"] = detect
    FIGURES[f"{label}: back in session after restore (client.log)"] = back_after_restore
    FIGURES[f"{label}: first resumed byte after restore"] = first_byte
    assert m.group(3) == "resumed", f"not an exact resume: {back!r}"
    finish_sequence(t, remote)
    return detect, back_after_restore, first_byte, msg


# --------------------------------------------------------------------------
# 1-3: losing the link mid-stream; nothing lost, nothing repeated


def test_freeze_detected_reconnected_and_resumed_exactly(env, remote):
    t = remote.attach()
    detect, back, first, why = lose_and_come_back(t, remote, remote.proxy.freeze, 5.0, "freeze 5s")
    # silent link: noticed within the heartbeat timeout (checked once per
    # interval), not before anything could have been missed
    assert 1.0 <= detect <= DETECT_MAX, (detect, why)
    # back within the backoff cap once the link works again
    assert back <= BACKOFF_MAX + MARGIN, back
    assert first <= BACKOFF_MAX + MARGIN, first
    # the status line was shown and taken away
    out = t.output()
    last_status = [m.end() for m in STATUS_RX.finditer(out)]
    assert last_status, "no status line while the link was down"
    assert ERASE in out[last_status[-1]:], "the status line was left on the screen"


def test_reset_detected_reconnected_and_resumed_exactly(env, remote):
    t = remote.attach()
    detect, back, first, why = lose_and_come_back(t, remote, remote.proxy.reset, 0, "reset")
    # a RST is noticed at once, and the first retry comes after base at most
    assert detect <= 0.5 * h.SCALE, (detect, why)
    assert back <= BACKOFF_BASE + MARGIN, back
    assert first <= BACKOFF_BASE + MARGIN, first


def test_refused_reconnects_back_off_then_resume(env, remote):
    t = remote.attach()
    shell_pid(t)
    start_sequence(t)
    wait_line(t, 40)
    accepted = remote.proxy.accepted
    t_fault = time.time()
    # The live link dies, and new ones are refused. reset() goes back to
    # forwarding, so refuse follows it at once: a few hundred microseconds,
    # while the client's first retry takes milliseconds at the very least
    # (checked below: nothing was accepted meanwhile).
    remote.proxy.reset()
    remote.proxy.refuse(True)
    assert remote.proxy.accepted == accepted, "a retry slipped in before refuse (test race)"
    time.sleep(3.0)  # the fault: refuse for 3 s
    last = last_seen(t)
    t_restore = time.time()
    restore_mono = time.monotonic()
    remote.proxy.refuse(False)
    first = wait_new_line(t, last, BACKOFF_MAX + HB_TIMEOUT + MARGIN) - restore_mono
    back_ts, back, m = remote.wait_client_log(BACK_RX, 5, after=t_fault)
    FIGURES["refuse 3s: first resumed byte after restore"] = first
    FIGURES["refuse 3s: back in session after restore (client.log)"] = back_ts - t_restore
    assert m.group(3) == "resumed", back
    assert back_ts - t_restore <= BACKOFF_MAX + MARGIN

    tries = [(k, d) for k, d in retries(remote, t_fault)]
    refused = [ln for ln in remote.log_text().splitlines()
               if ln.startswith("attach: link closed") and "refused" in ln.lower()]
    delays = [d for _, d in tries]
    # several retries, each within its exponential envelope (full jitter:
    # attempt k waits 0..min(cap, base*2^(k-1))), capped at 1 s
    assert len(tries) >= 3, tries
    assert len(refused) >= 2, remote.log_text()
    for k, d in tries:
        assert 0 <= d <= min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (k - 1)) * 1000, (k, d, tries)
    # it backs off: not a fixed 100 ms hammering (30 tries in 3 s), and the
    # delays grew past the base; jitter: not all the same
    assert len(tries) <= 15, tries
    assert max(delays) > BACKOFF_BASE * 1000, tries
    assert len(set(delays)) > 1, tries
    # attempts numbered 1, 2, 3, ... across the outage
    assert [k for k, _ in tries] == list(range(1, len(tries) + 1)), tries
    # while refusing nothing got through; the one that did was the resume
    assert remote.proxy.accepted == accepted + 1, remote.proxy.stats()
    finish_sequence(t, remote)


# --------------------------------------------------------------------------
# 4, 10: failures that are not retried


def test_wrong_key_exits_at_once_with_auth_code(env, remote):
    cfg = remote.write_client_cfg("wrongkey.ini",
                                  remote.write_ssh_config("ssh_config_wrong", remote.wrong_key))
    rc, out, secs, _ = remote.run_attach(cfg=cfg)
    FIGURES["wrong key: exit after"] = secs
    assert rc == 4, (rc, out)  # EXIT_AUTH
    line = one_line(out)
    assert line.startswith("persh: ") and "authentication" in line and ALIAS in line, line
    assert secs < BACKOFF_MAX, secs
    assert remote.proxy.accepted == 1, remote.proxy.stats()
    assert retries(remote) == [], remote.log_text()
    # and nothing was started on the far side
    assert remote.env.pidfile_daemon() is None


def test_first_connection_failure_fails_fast_without_retry(env, remote):
    # refused by the (proxy's) port
    remote.proxy.refuse(True)
    rc, out, secs, _ = remote.run_attach()
    FIGURES["first connect refused: exit after"] = secs
    assert rc == 3, (rc, out)  # EXIT_UNREACHABLE
    line = one_line(out)
    assert line.startswith("persh: ") and "connect" in line and "refused" in line.lower(), line
    assert secs < BACKOFF_MAX, secs
    assert retries(remote) == [], remote.log_text()
    assert remote.proxy.accepted == 0
    # a port nobody listens on, straight from the ssh_config
    cfg = remote.write_client_cfg(
        "wrongport.ini", remote.write_ssh_config("ssh_config_port", remote.key, port=free_port()))
    rc, out, secs, _ = remote.run_attach(cfg=cfg)
    assert rc == 3, (rc, out)
    one_line(out)
    assert secs < BACKOFF_MAX, secs
    # a black hole: bounded by the connect timeout, then the same
    remote.proxy.refuse(False)
    remote.proxy.drop_new(True)
    rc, out, secs, _ = remote.run_attach(timeout=HB_TIMEOUT + 5)
    FIGURES["first connect black-holed: exit after"] = secs
    assert rc == 3, (rc, out)
    one_line(out)
    assert secs <= HB_TIMEOUT + MARGIN + 1.0, secs  # libssh rounds its timeout up to seconds
    assert retries(remote) == [], remote.log_text()
    assert remote.proxy.stats()["dropped"] == 1, remote.proxy.stats()
    assert remote.env.pidfile_daemon() is None


# --------------------------------------------------------------------------
# host keys


def test_unknown_host_refused_without_a_terminal_to_ask(env, remote):
    """stdin/stdout are a terminal but not the controlling one: nothing to
    ask on, so an unknown host is refused."""
    remote.known_hosts.write_text("")
    master, slave = os.openpty()
    try:
        p = subprocess.Popen(remote.argv(), stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                             env=remote.client_env(), start_new_session=True)
        os.close(slave)
        slave = None
        _, err = p.communicate(timeout=10 * h.SCALE)
    finally:
        if slave is not None:
            os.close(slave)
        if "p" in locals() and p.poll() is None:
            os.killpg(p.pid, 9)
            p.wait(5)
        os.close(master)
    err = err.decode(errors="replace")
    assert p.returncode == 4, (p.returncode, err)
    line = one_line(err)
    assert "not known" in line and "refusing" in line, line
    assert remote.known_hosts.read_text() == ""
    assert retries(remote) == []


ASK_RX = r"Are you sure you want to continue connecting \(yes/no\)\? "


def test_unknown_host_asks_on_the_terminal(env, remote):
    remote.known_hosts.write_text("")
    # "no": refused, nothing saved
    t = remote.env.term(remote.argv(), env=remote.client_env(), name="ask-no")
    t.expect("The authenticity of host 'remotebox' can't be established", 10)
    t.expect(ASK_RX, 10)
    t.sendline("no")
    assert t.wait_exit(5) == 4, t.text()
    assert "host key for remotebox" in one_line("\n".join(client_messages(t.text(t.mark))))
    assert remote.known_hosts.read_text() == ""
    # "yes": saved, and the session opens
    t = remote.env.term(remote.argv(), env=remote.client_env(), name="ask-yes")
    t.expect(r"ssh-ed25519 key fingerprint is SHA256:", 10)
    t.expect(ASK_RX, 10)
    t.sendline("yes")
    t.wait_raw(10)
    t.expect(h.PROMPT, 10)
    h.shell_echo(t)
    saved = remote.known_hosts.read_text()
    assert remote.known_line.split()[2] in saved, saved


def test_unknown_host_question_waits_for_the_user(env, remote):
    """A user takes a few seconds to read a fingerprint (ssh waits forever);
    here longer than the 2 s heartbeat timeout."""
    remote.known_hosts.write_text("")
    t = remote.env.term(remote.argv(), env=remote.client_env(), name="ask-slow")
    t.expect(ASK_RX, 10)
    end = time.monotonic() + HB_TIMEOUT + HB_INTERVAL + 0.5
    wait_for(lambda: not t.alive() or time.monotonic() >= end, 10, "the user to read it")
    assert t.alive(), f"the client gave up while asking: {t.text(t.mark)!r}"
    t.sendline("yes")
    t.wait_raw(10)
    t.expect(h.PROMPT, 10)


def test_changed_host_key_refused(env, remote):
    from sshutil import keygen
    other = keygen(remote.dir / "other_host_key")
    pub = (remote.dir / "other_host_key.pub").read_text().split()
    remote.known_hosts.write_text(f"[127.0.0.1]:{remote.port} {pub[0]} {pub[1]}\n")
    rc, out, secs, _ = remote.run_attach()
    assert rc == 4, (rc, out)
    assert "CHANGED" in one_line(out)
    assert "Are you sure" not in out
    assert other.exists()


# --------------------------------------------------------------------------
# 5-7: the session or the client ends while the link is down


def wait_client_noticed(remote, after):
    return remote.wait_client_log(r"^attach: link closed", DETECT_MAX + 1, after=after)


def test_session_killed_while_disconnected(env, remote):
    t = remote.attach()
    pid = shell_pid(t)
    t_fault = time.time()
    remote.proxy.freeze()
    wait_client_noticed(remote, t_fault)
    p = env.persh("kill", "s")
    assert p.returncode == 0, p.err
    wait_for(lambda: not h.pid_running(pid), 5, "the killed shell to end")
    wait_for(lambda: (s := env.session("s")) is None or s["state"].startswith("exited"), 5,
             "the remote session to end")
    row = env.session("s")
    remote.proxy.forward()
    t0 = time.monotonic()
    rc = t.wait_exit(BACKOFF_MAX + 2 * HB_TIMEOUT + MARGIN)
    FIGURES["killed while away: client exit after restore"] = time.monotonic() - t0
    FIGURES["killed while away: client exit status"] = rc
    tail = t.text(t.mark)
    if row is not None and row.get("exit_status") is not None:
        # what `persh ls --json` said is what the client exits with
        assert rc == row["exit_status"], (rc, row, tail)
    assert rc != 0, tail
    assert re.search(r"persh: .*\bs\b", tail), tail
    assert "exited with status" in tail or "no longer exists" in tail, tail


def end_while_down(env, remote, when, hold):
    """The shell exits with status 7 while the link is frozen, `when` it is
    told to (a function run during the freeze), the freeze lasting `hold`
    seconds in all; then forwarding again: (client exit status, its text)."""
    t = remote.attach()
    shell_pid(t)
    go = env.root / "go"
    t.sendline(f"while [ ! -e {go} ]; do sleep 0.05; done; exit 7")
    t.expect(b"exit 7\r\n", 5)  # the echo: the loop runs
    t_fault = time.time()
    remote.proxy.freeze()
    when()
    go.touch()
    wait_for(lambda: (s := env.session("s")) is None or s["state"].startswith("exited"), 5,
             "the remote shell to exit")
    time.sleep(max(0.0, hold - (time.time() - t_fault)))  # the fault: `hold` s in all
    remote.proxy.forward()
    rc = t.wait_exit(BACKOFF_MAX + 2 * HB_TIMEOUT + MARGIN)
    return rc, t.text(t.mark)


def test_session_ended_while_orphaned_client_gets_its_status(env, remote):
    """The shell exits after the far side noticed the dead link (the session
    is orphaned then): its status is kept until the client comes back."""
    def orphaned():
        wait_for(lambda: (s := env.session("s")) and s["state"] == "orphaned",
                 HB_TIMEOUT + HB_INTERVAL + MARGIN, "remote session orphaned")
    rc, tail = end_while_down(env, remote, orphaned, hold=4.0)
    assert rc == 7, (rc, tail, remote.log_text())
    assert "session s exited with status 7" in tail, tail
    # seen by a client: gone now
    wait_for(lambda: env.session("s") is None, 3, "the exited session to be removed")


def test_session_ended_by_itself_while_disconnected(env, remote):
    """The issue's flow: `sleep 1; exit 7`, freeze 3 s, forward -> exit 7.
    The shell exits 1 s into the freeze, before either end's heartbeat
    timeout."""
    rc, tail = end_while_down(env, remote, lambda: time.sleep(1.0), hold=3.0)
    assert rc == 7, (rc, tail, remote.log_text())
    assert "session s exited with status 7" in tail, tail


def test_no_reconnect_exits_on_first_loss_session_stays(env, remote):
    t = remote.attach("s", "--no-reconnect")
    pid = shell_pid(t)
    t_fault = time.time()
    remote.proxy.freeze()
    rc = t.wait_exit(DETECT_MAX + 1)
    secs = time.time() - t_fault
    FIGURES["--no-reconnect: exit after freeze"] = secs
    assert rc == 3, (rc, t.text(t.mark))
    assert secs <= DETECT_MAX, secs
    line = one_line("\n".join(client_messages(t.text(t.mark))))
    assert "link lost" in line and "session s is still running" in line, line
    assert retries(remote) == [], remote.log_text()
    # the far side noticed too and keeps the session for a comeback
    s = wait_for(lambda: (s := env.session("s")) and s["state"] == "orphaned" and s,
                 HB_TIMEOUT + HB_INTERVAL + MARGIN, "remote session orphaned")
    assert s["pid"] == pid
    remote.proxy.forward()


# --------------------------------------------------------------------------
# 8-9: while the link is down


def test_keystrokes_typed_while_down_are_delivered_in_order(env, remote):
    t = remote.attach()
    pid = shell_pid(t)
    t_fault = time.time()
    remote.proxy.freeze()
    t.expect(STATUS_RX, DETECT_MAX + 1)  # the user sees it is down
    t.sendline("echo held-$((0+1))")
    t.sendline("echo held-$((0+2))")
    wait_for(lambda: t.input_pending() == 0, 3, "the client to read the keystrokes")
    time.sleep(0.5)  # the fault goes on a little while with keystrokes held
    assert b"held-1" not in t.output(t.mark), "typed input echoed while the link was down"
    remote.proxy.forward()
    remote.wait_client_log(BACK_RX, BACKOFF_MAX + 2 * HB_TIMEOUT + MARGIN, after=t_fault)
    t.expect(b"\r\nheld-1\r\n", 5)
    t.expect(b"\r\nheld-2\r\n", 5)  # after held-1: expect() moved past it
    assert shell_pid(t) == pid


def test_status_line_and_detach_key_while_down(env, remote):
    t = remote.attach()
    pid = shell_pid(t)
    t_fault = time.time()
    remote.proxy.freeze()
    m = t.expect(STATUS_RX, DETECT_MAX + 1)
    FIGURES["status line shown after freeze"] = time.time() - t_fault
    # it is drawn on the last row in reverse video and keeps counting
    assert re.search(rb"\x1b7\x1b\[24;1H\x1b\[0;7mpersh: link lost", t.output()), t.tail()
    m2 = t.expect(STATUS_RX, 3)
    assert int(m2.group(1)) >= int(m.group(1))
    t0 = time.monotonic()
    t.send(DETACH_KEY)
    rc = t.wait_exit(3)
    FIGURES["detach key while down: exit after"] = time.monotonic() - t0
    assert rc == 0, t.text(t.mark)
    assert time.monotonic() - t0 < 1.0 * h.SCALE
    assert "detached from s while the link was down" in t.text(t.mark)
    s = env.session("s")
    assert s is not None and s["pid"] == pid and h.pid_running(pid), s
    remote.proxy.forward()


# --------------------------------------------------------------------------
# 11: the far side


def test_far_side_orphans_and_same_shell_continues(env, remote):
    t = remote.attach()
    pid = shell_pid(t)
    shell_run(t, "X=kept")
    assert env.session("s")["state"] == "attached"
    t_fault = time.time()
    remote.proxy.freeze()
    s = wait_for(lambda: (s := env.session("s")) and s["state"] == "orphaned" and s,
                 HB_TIMEOUT + HB_INTERVAL + MARGIN, "remote session orphaned", interval=0.05)
    FIGURES["far side orphaned after freeze"] = time.time() - t_fault
    assert s["pid"] == pid and s["clients"] == 0, s
    assert env.ls()["stats"]["heartbeat_timeout"] == 1  # noticed by its heartbeats
    t.resize(30, 120)  # the window changes while away: the new ATTACH carries it
    time.sleep(max(0.0, 3.5 - (time.time() - t_fault)))  # the fault: 3.5 s in all
    remote.proxy.forward()
    remote.wait_client_log(BACK_RX, BACKOFF_MAX + 2 * HB_TIMEOUT + MARGIN, after=t_fault)
    assert shell_pid(t) == pid
    assert "kept" in shell_run(t, "echo $X")
    assert shell_run(t, "stty size").split() == ["30", "120"]
    s = env.session("s")
    assert s["state"] == "attached" and s["clients"] == 1 and s["pid"] == pid, s


def test_screen_is_as_it_was_after_resume(env, remote):
    """The status line covers the last row while down; once back, the screen
    shows what it showed before (the prompt with the typed command)."""
    pyte = pytest.importorskip("pyte")

    def screen():
        sc = pyte.Screen(200, 24)
        pyte.ByteStream(sc).feed(t.output())
        return [row.rstrip() for row in sc.display], (sc.cursor.y, sc.cursor.x)

    t = remote.attach()
    t.sendline("seq 1 40")
    t.expect(b"40\r\n", 5)
    t.expect(h.PROMPT, 5)
    t.send("echo abc")
    t.expect(b"echo abc", 5)
    before = screen()
    assert before[0][-1] == "tsh$ echo abc", before  # the prompt is on the last row
    t_fault = time.time()
    remote.proxy.freeze()
    t.expect(STATUS_RX, DETECT_MAX + 1)
    remote.proxy.forward()
    remote.wait_client_log(BACK_RX, BACKOFF_MAX + 2 * HB_TIMEOUT + MARGIN, after=t_fault)
    t.wait_output(lambda b: ERASE in b[b.rfind(b"persh: link lost"):], 3, "the status line erased")
    # the repaint follows the resumed output: wait for it, with a deadline
    try:
        wait_for(lambda: screen() == before, 5, "the screen to be as it was")
    except h.Timeout:
        after = screen()
        raise AssertionError(f"last rows before {before[0][-3:]!r}, after {after[0][-3:]!r}")
