"""Orphans (issue 4): a session whose last client was lost without a
detach is orphaned and hung up after [session] orphan_timeout like a
terminal hang-up (SIGHUP, then SIGTERM, then SIGKILL); a client that comes
back in time cancels it and gets the same shell. Local clients are lost by
killing them; the SSH and link-failure variants are in test_ssh.py."""

import os
import signal
import time

import harness as h
from harness import shell_run, wait_for
from test_core import shell_pid

DETACH_KEY = b"\x1c"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    st = h.proc_stat(pid)
    return st is not None and st.get("state") != "Z"


def read_pid(path, timeout=5.0):
    return wait_for(lambda: path.exists() and path.read_text().strip().isdigit()
                    and int(path.read_text()), timeout, f"pid in {path}")


def lose(term):
    """Lose a client the way a closed terminal or a crash does: no detach."""
    term.signal(signal.SIGKILL)
    term.wait_exit(5)


def stats(env):
    return env.ls()["stats"]


def test_lost_client_orphans_and_reattach_cancels(env):
    env.set("session", "orphan_timeout", "3s")
    env.start_daemon()
    t = env.attach("s")
    pid = shell_pid(t)
    shell_run(t, "X=kept")
    lose(t)
    s = wait_for(lambda: (s := env.session("s")) and s["state"] == "orphaned" and s, 5,
                 "session orphaned")
    assert 0 < s["timeout_left_s"] <= 3.0
    assert stats(env)["client_eof"] == 1
    # back within the timeout: same shell, same state, clock stopped
    u = env.attach("s", wait_prompt=False)
    assert shell_pid(u) == pid
    assert "kept" in shell_run(u, "echo $X")
    s = env.session("s")
    assert s["state"] == "attached" and s["timeout_left_s"] is None
    # well past the old deadline the shell is still there
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 3.5, 5, "the old deadline to pass")
    assert pid_alive(pid)
    assert env.session("s")["state"] == "attached"


def test_orphan_timeout_sends_sighup_and_nohup_survives(env):
    env.set("session", "orphan_timeout", "1s")
    env.start_daemon()
    t = env.attach("s")
    pid = shell_pid(t)
    hup = env.root / "hup"
    nohup_pid = env.root / "nohup.pid"
    fg_pid = env.root / "fg.pid"
    t.sendline(f"nohup sh -c 'echo $$ > {nohup_pid}; exec sleep 60' >/dev/null 2>&1 &")
    np = read_pid(nohup_pid)
    try:
        # The trap marker lives in a foreground job: bash 5.2 at a readline
        # prompt exits on SIGHUP without running its own HUP trap.
        t.sendline(f"sh -c 'trap \"echo HUP > {hup}; exit 0\" HUP; echo $$ > {fg_pid};"
                   f" while :; do sleep 0.05; done'")
        read_pid(fg_pid)
        lose(t)
        t_lost = time.monotonic()
        wait_for(lambda: hup.exists(), 5, "the shell's SIGHUP trap")
        assert time.monotonic() - t_lost >= 0.9, "hung up before orphan_timeout"
        wait_for(lambda: not pid_alive(pid), 5, "the shell to exit")
        wait_for(lambda: env.session("s") is None, 5, "the session to be removed")
        assert pid_alive(np), "a nohup job must survive the hang-up"
        st = stats(env)
        assert st["orphan_timeout"] == 1 and st["client_eof"] == 1
        env.wait_log(r"session s: orphan_timeout, hanging up")
    finally:
        try:
            os.kill(int(nohup_pid.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_orphan_hangup_escalates_to_sigterm_and_sigkill(env):
    env.set("session", "orphan_timeout", "500ms")
    env.set("session", "hangup_grace", "700ms")
    env.start_daemon()
    t = env.attach("s")
    pid = shell_pid(t)
    term_mark = env.root / "term"
    stubborn = env.root / "stubborn.pid"
    # a foreground job that ignores SIGHUP, notes SIGTERM and ignores it:
    # only SIGKILL ends it (and the shell, waiting on it, with it)
    t.sendline(f"sh -c 'trap \"\" HUP; trap \"echo TERM > {term_mark}\" TERM;"
               f" echo $$ > {stubborn}; while :; do sleep 0.05; done'")
    sp = read_pid(stubborn)
    lose(t)
    t_lost = time.monotonic()
    wait_for(lambda: term_mark.exists(), 5, "SIGTERM to the job that ignored SIGHUP")
    t_term = time.monotonic() - t_lost
    wait_for(lambda: not pid_alive(sp), 5, "SIGKILL to the job that ignored SIGTERM")
    t_kill = time.monotonic() - t_lost
    assert t_term >= 0.5 + 0.7 - 0.15, f"SIGTERM after {t_term:.2f}s, before one grace"
    assert t_kill >= 0.5 + 2 * 0.7 - 0.15, f"SIGKILL after {t_kill:.2f}s, before two graces"
    wait_for(lambda: not pid_alive(pid), 5, "the shell to be gone")
    wait_for(lambda: env.session("s") is None, 5, "the session to be removed")
    env.wait_log(r"session s: sent SIGHUP")
    env.wait_log(r"session s: sent SIGTERM")
    env.wait_log(r"session s: sent SIGKILL")


def test_detached_session_kept_by_default(env):
    env.set("session", "orphan_timeout", "500ms")
    env.start_daemon()
    t = env.attach("s")
    pid = shell_pid(t)
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0
    s = env.session("s")
    assert s["state"] == "detached" and s["timeout_left_s"] is None
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 1.2, 5, "past the orphan timeout")
    assert pid_alive(pid) and env.session("s")["state"] == "detached"
    assert stats(env)["detached"] == 1


def test_detached_timeout(env):
    env.set("session", "detached_timeout", "800ms")
    env.start_daemon()
    t = env.attach("s")
    pid = shell_pid(t)
    t.send(DETACH_KEY)
    assert t.wait_exit(5) == 0
    s = env.session("s")
    assert s["state"] == "detached" and 0 < s["timeout_left_s"] <= 0.8
    wait_for(lambda: not pid_alive(pid), 5, "hang-up after detached_timeout")
    wait_for(lambda: env.session("s") is None, 5, "the session to be removed")
    assert stats(env)["detached_timeout"] == 1


def test_kill_counts_and_escalates(env):
    env.set("session", "hangup_grace", "300ms")
    env.start_daemon()
    t = env.attach("s")
    stubborn = env.root / "stubborn.pid"
    t.sendline(f"trap '' HUP; sh -c 'trap \"\" HUP TERM; echo $$ > {stubborn};"
               f" while :; do sleep 0.05; done'")
    sp = read_pid(stubborn)
    assert env.persh("kill", "s").returncode == 0
    wait_for(lambda: not pid_alive(sp), 5, "SIGKILL after SIGHUP and SIGTERM were ignored")
    rc = t.wait_exit(5)
    assert rc == 128 + signal.SIGKILL or rc == 128 + signal.SIGHUP or rc == 128 + signal.SIGTERM, rc
    wait_for(lambda: stats(env)["killed"] == 1, 5, "the kill counted")
