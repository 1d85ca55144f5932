"""Packaging and user habits: `persh help`, the version, the shell
completions (against a real daemon, and without one), the man pages, the
systemd units, the logging a unit relies on, and `meson install`."""

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import harness as h

ROOT = Path(os.environ.get("PERSH_SOURCE_ROOT") or Path(__file__).resolve().parents[2])
BUILD = Path(h.persh_bin()).parent
COMMANDS = ["attach", "ls", "kill", "detach", "serve", "proxy", "bridge", "help"]


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 30 * h.SCALE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, **kw)


def project_version():
    m = re.search(r"project\([^)]*?version\s*:\s*'([^']+)'", (ROOT / "meson.build").read_text(),
                  re.S)
    assert m, "no version in meson.build"
    return m.group(1)


def path_with_persh(env):
    """A PATH whose `persh` is the binary under test, as completion runs it."""
    bindir = env.root / "bin"
    bindir.mkdir(exist_ok=True)
    link = bindir / "persh"
    if not link.exists():
        link.symlink_to(h.persh_bin())
    return f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"


# --------------------------------------------------------------------------
# persh help, -h, --version


def test_help_attach_tells_its_options(env):
    p = env.persh("help", "attach", cfg=False)
    assert p.returncode == 0, p.err
    assert p.out.startswith("usage: persh attach"), p.out
    for opt in ("-r", "-d", "--no-reconnect", "--max-reconnect-delay"):
        assert re.search(r"^\s+" + re.escape(opt) + r"\b", p.out, re.M), (opt, p.out)
    assert p.err == ""
    # `persh attach -h` and `--help` say the same, start nothing, need no tty.
    for flag in ("-h", "--help"):
        q = env.persh("attach", flag)
        assert (q.returncode, q.out, q.err) == (0, p.out, "")
    q = env.persh("attach", "-r", "-h")
    assert (q.returncode, q.out) == (0, p.out)
    assert not env.run.exists(), "asking for help started a daemon"


def test_help_unknown_command_is_one_line_exit_2(env):
    for name in ("nosuch", "ssh-conn"):  # ssh-conn is internal
        p = env.persh("help", name, cfg=False)
        assert p.returncode == 2, (name, p.returncode)
        assert p.out == ""
        assert len(p.err.splitlines()) == 1, p.err
        assert name in p.err


def test_help_alone_lists_every_command(env):
    p = env.persh("help", cfg=False)
    assert p.returncode == 0, p.err
    assert p.out.startswith("usage: persh")
    listed = re.findall(r"^  persh (\S+)", p.out, re.M)
    assert listed == COMMANDS, p.out
    assert "ssh-conn" not in p.out
    assert env.persh("help", "attach", "ls", cfg=False).returncode == 2


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(env, cmd):
    p = env.persh("help", cmd, cfg=False)
    assert p.returncode == 0, p.err
    assert p.out.startswith(f"usage: persh {cmd}"), p.out
    assert len(p.out.splitlines()) >= 3, p.out
    q = env.persh(cmd, "-h")
    assert (q.returncode, q.out) == (0, p.out)
    assert not env.run.exists(), f"`persh {cmd} -h` started a daemon"


def test_options_after_an_operand_are_not_help(env):
    # `bridge NAME -h`: the command parses it (and refuses it), not main.
    p = env.persh("bridge", "x", "-h")
    assert p.returncode == 2 and p.out == "", (p.returncode, p.out)


def test_version_is_the_project_version(env):
    want = project_version()
    for flag in ("--version", "-V"):
        p = env.persh(flag, cfg=False)
        assert p.returncode == 0, p.err
        assert p.out.split()[:2] == ["persh", want], p.out


# --------------------------------------------------------------------------
# bash completion


def bash_complete(env, words, cword=None, extra_env=None):
    """Run _persh from contrib/completions/persh.bash in `bash --norc` for
    the words (the last being completed); returns COMPREPLY."""
    if cword is None:
        cword = len(words) - 1
    arr = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    script = (f"source '{ROOT}/contrib/completions/persh.bash' || exit 9\n"
              f"COMP_WORDS=({arr}); COMP_CWORD={cword}\n"
              "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}\n"
              "_persh || exit 8\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    e = env.base_env(PATH=path_with_persh(env), **(extra_env or {}))
    p = run(["bash", "--norc", "--noprofile", "-c", script], env=e)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stderr == "", p.stderr
    return [w for w in p.stdout.splitlines() if w]


def test_bash_completes_session_names(env, daemon):
    for name in ("alpha", "beta"):
        p = env.persh("attach", "-d", name)
        assert p.returncode == 0, p.err
    assert bash_complete(env, ["persh", "attach", "a"]) == ["alpha"]
    assert sorted(bash_complete(env, ["persh", "kill", ""])) == ["alpha", "beta"]
    assert bash_complete(env, ["persh", "detach", "b"]) == ["beta"]
    assert bash_complete(env, ["persh", "attach", "-r", "al"]) == ["alpha"]
    # one operand only
    assert bash_complete(env, ["persh", "kill", "alpha", ""]) == []
    # -c FILE on the line is the daemon asked, not $PERSH_CONFIG
    cfg = str(env.cfg_path)
    got = bash_complete(env, ["persh", "-c", cfg, "attach", ""],
                        extra_env={"PERSH_CONFIG": str(env.root / "nonexistent.ini")})
    assert sorted(got) == ["alpha", "beta"]
    got = bash_complete(env, ["persh", "kill", "-c", cfg, "b"], extra_env={"PERSH_CONFIG": None})
    assert got == ["beta"]


def test_bash_completes_commands_and_options(env):
    assert bash_complete(env, ["persh", "at"]) == ["attach"]
    assert sorted(bash_complete(env, ["persh", ""])) == sorted(COMMANDS)
    assert bash_complete(env, ["persh", "attach", "--no"]) == ["--no-reconnect"]
    assert bash_complete(env, ["persh", "ls", "--j"]) == ["--json"]
    assert bash_complete(env, ["persh", "serve", "-T"]) == ["-T"]
    assert bash_complete(env, ["persh", "help", "de"]) == ["detach"]
    assert bash_complete(env, ["persh", "--vers"]) == ["--version"]


def test_bash_completion_never_starts_a_daemon(env):
    assert bash_complete(env, ["persh", "attach", ""]) == []
    assert bash_complete(env, ["persh", "kill", "a"]) == []
    assert bash_complete(env, ["persh", "bridge", ""]) == []
    assert not env.run.exists(), "completion created the runtime dir"
    assert env.pidfile_daemon() is None
    assert not env.socket_connectable()


def test_bash_completion_is_registered(env):
    p = run(["bash", "--norc", "--noprofile", "-c",
             f"source '{ROOT}/contrib/completions/persh.bash' && complete -p persh"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "complete -F _persh persh"


# --------------------------------------------------------------------------
# zsh completion

needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")


def zsh_env(env):
    return env.base_env(PATH=path_with_persh(env), ZDOTDIR=str(env.home), TERM="xterm",
                        EDITOR=None, VISUAL=None)


@needs_zsh
def test_zsh_completion_loads(env):
    script = (f"fpath=('{ROOT}/contrib/completions' $fpath)\n"
              f"autoload -Uz compinit && compinit -u -d '{env.root}/zcompdump'\n"
              "print -r -- ${_comps[persh]}\n")
    p = run(["zsh", "-f", "-c", script], env=zsh_env(env))
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout.strip() == "_persh"


@needs_zsh
def test_zsh_completes_session_names(env, daemon):
    for name in ("alpha", "beta"):
        assert env.persh("attach", "-d", name).returncode == 0
    t = env.term(["zsh", "-f", "-i"], rows=24, cols=100, name="zsh", env=zsh_env(env))
    t.sendline(f"fpath=('{ROOT}/contrib/completions' $fpath); "
               f"autoload -Uz compinit; compinit -u -d '{env.root}/zcompdump'; "
               "bindkey -e; PS1='zsh%% '; echo READY$((40+2))")
    t.expect(b"READY42", 10)
    t.expect(b"zsh% ", 10)
    # Ambiguous: both names are listed.
    t.send(b"persh kill \t")
    t.expect(re.compile(rb"alpha[\s\S]*beta|beta[\s\S]*alpha"), 10)
    t.send(b"\x15")  # ^U: empty the line (no ^C: a signal could cut a widget short)
    # Unique: completed in the line; print the line to read it back whole.
    t.send(b"persh attach a\t")
    t.expect(b"lpha", 10)
    t.send(b"\x01print -r -- \r")  # ^A, then make the line a print
    t.expect(b"persh attach alpha\r\n", 10)
    t.expect(b"zsh% ", 10)
    # -c FILE after the command is the daemon asked, not $PERSH_CONFIG.
    t.sendline(f"export PERSH_CONFIG={env.root}/nonexistent.ini")
    t.expect(b"zsh% ", 10)
    t.send(f"persh kill -c {env.cfg_path} b\t".encode())
    t.expect(b"eta", 10)
    t.send(b"\x01print -r -- \r")
    t.expect(f"persh kill -c {env.cfg_path} beta\r\n".encode(), 10)
    t.expect(b"zsh% ", 10)
    t.sendline("exit")
    t.wait_exit(10)


@needs_zsh
def test_zsh_completion_never_starts_a_daemon(env):
    t = env.term(["zsh", "-f", "-i"], rows=24, cols=100, name="zsh", env=zsh_env(env))
    t.sendline(f"fpath=('{ROOT}/contrib/completions' $fpath); "
               f"autoload -Uz compinit; compinit -u -d '{env.root}/zcompdump'; "
               "bindkey -e; PS1='zsh%% '; echo READY$((40+2))")
    t.expect(b"READY42", 10)
    t.send(b"persh attach \t")
    t.send(b"\x01print -r -- DONE$((1+1)) \r")
    t.expect(b"DONE2", 10)
    t.sendline("exit")
    t.wait_exit(10)
    assert not env.run.exists(), "completion created the runtime dir"
    assert env.pidfile_daemon() is None


# --------------------------------------------------------------------------
# man pages

def scdoc_render(name):
    """The page from the build dir, else rendered here with scdoc."""
    built = BUILD / "doc" / name
    if built.exists():
        return built
    if shutil.which("scdoc") is None:
        pytest.skip("scdoc is not installed and the build made no man pages")
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"persh-test-{os.getpid()}-{name}"
    with open(ROOT / "doc" / f"{name}.scd", "rb") as src, open(out, "wb") as dst:
        p = subprocess.run(["scdoc"], stdin=src, stdout=dst, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("name,section", [("persh.1", "1"), ("persh.ini.5", "5")])
def test_man_page_renders(name, section):
    page = scdoc_render(name)
    roff = page.read_text()
    title = name.rsplit(".", 1)[0]
    assert re.search(rf'^\.TH "{re.escape(title)}" "{section}"', roff, re.M), roff[:400]
    if shutil.which("mandoc"):
        p = run(["mandoc", "-T", "lint", "-W", "warning", str(page)])
        assert p.returncode == 0, p.stdout + p.stderr
    if shutil.which("groff"):
        p = run(["groff", "-man", "-ww", "-z", "-Tutf8", str(page)], env={**os.environ, "LC_ALL": "C"})
        assert (p.returncode, p.stderr) == (0, ""), p.stderr
    if shutil.which("man"):
        p = run(["man", "-l", str(page)], env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
        assert p.returncode == 0, p.stderr
        assert "SEE ALSO" in p.stdout


def test_man_page_has_every_command_and_exit_status():
    text = (ROOT / "doc" / "persh.1.scd").read_text()
    synopsis = text[text.index("# SYNOPSIS"):text.index("# DESCRIPTION")]
    commands = text[text.index("# COMMANDS"):text.index("# OPTIONS")]
    for cmd in COMMANDS:
        assert f"*{cmd}*" in synopsis, cmd
        assert re.search(rf"^\*{cmd}\*", commands, re.M), cmd
    status = text[text.index("# EXIT STATUS"):text.index("# EXAMPLES")]
    # the codes of src/util.h
    codes = dict((name, int(v)) for name, v in
                 re.findall(r"(EXIT_\w+) = (\d+)", (ROOT / "src" / "util.h").read_text()))
    assert sorted(codes.values()) == [0, 1, 2, 3, 4]
    for v in codes.values():
        assert re.search(rf"^\*{v}\*$", status, re.M), v
    for heading in ("ENVIRONMENT", "FILES", "SIGNALS", "EXAMPLES", "SEE ALSO"):
        assert f"\n# {heading}\n" in text


# --------------------------------------------------------------------------
# systemd units


def built_units():
    units = {u: BUILD / "contrib" / u for u in ("persh.service", "persh@.service")}
    for u, p in units.items():
        if not p.exists():
            pytest.skip(f"{p} was not generated (build dir {BUILD})")
    return units


def unit_keys(path):
    keys = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def test_units_run_the_daemon_in_the_foreground():
    for name, path in built_units().items():
        k = unit_keys(path)
        assert "@" not in "".join(k["ExecStart"]), k["ExecStart"]
        exe, *args = k["ExecStart"][0].split()
        assert os.path.isabs(exe) and exe.endswith("/persh") and args == ["serve", "-f"]
        assert k["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
        assert k["Restart"] == ["on-failure"]
        assert k["KillMode"] == ["process"]
        # nothing that would change what the user's login shells can do
        for bad in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
                    "DeviceAllow", "ProtectClock", "PrivateDevices"):
            assert bad not in k, (name, bad)
    k = unit_keys(built_units()["persh@.service"])
    assert k["User"] == ["%i"]
    assert k["RuntimeDirectory"] == ["persh-%i"]
    assert k["RuntimeDirectoryMode"] == ["0700"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_units_verify(env):
    # The installed units name the installed binary; check them against the
    # one under test instead, which exists.
    d = env.root / "units"
    d.mkdir()
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    for name, path in built_units().items():
        text = re.sub(r"^ExecStart=\S+/persh ", f"ExecStart={h.persh_bin()} ", path.read_text(),
                      flags=re.M)
        (d / name.replace("@", f"@{user}")).write_text(text)
    rt = env.root / "xdg-run"
    rt.mkdir(mode=0o700)
    e = {**os.environ, "XDG_RUNTIME_DIR": str(rt), "SYSTEMD_LOG_LEVEL": "notice"}
    for mode, unit in (("--user", "persh.service"), ("--system", f"persh@{user}.service")):
        p = run(["systemd-analyze", mode, "verify", "--man=no", str(d / unit)], env=e,
                cwd=str(d))
        if p.returncode != 0 and "Failed to initialize manager" in p.stderr:
            pytest.skip(f"systemd-analyze cannot run here: {p.stderr.strip()}")
        # verify exits 0 on unknown keys and bad values: any word is a failure
        assert (p.returncode, p.stderr.strip(), p.stdout.strip()) == (0, "", ""), unit


# --------------------------------------------------------------------------
# what a unit relies on: `persh serve -f` with log = auto


def test_serve_f_logs_to_stderr_with_priorities(env):
    env.set("daemon", "log", "auto")
    d = env.start_daemon()
    h.wait_for(lambda: "daemon started" in d.stderr(), 5, "the start-up line on stderr")
    assert re.search(r"^<6>\d{4}-\d\d-\d\dT[\d:.]+ persh\[%d\] info: persh \S+ daemon started"
                     % d.pid, d.stderr(), re.M), d.stderr()


def test_serve_f_under_the_journal_leaves_time_and_pid_to_it(env):
    env.set("daemon", "log", "auto")
    errpath = env.root / "journal-stream"
    with open(errpath, "wb") as f:
        st = os.fstat(f.fileno())
        e = env.base_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        proc = subprocess.Popen([h.persh_bin(), "serve", "-f", "-c", str(env.cfg_path)],
                                stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=e,
                                start_new_session=True)
    try:
        h.wait_for(lambda: "daemon started" in errpath.read_text(), 5, "the start-up line")
        first = [ln for ln in errpath.read_text().splitlines() if "daemon started" in ln][0]
        assert re.fullmatch(r"<6>info: persh \S+ daemon started \(pid %d\)" % proc.pid, first), first
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10 * h.SCALE)
    assert proc.returncode == 0


# --------------------------------------------------------------------------
# meson install


def test_meson_install_puts_everything_in_place(env):
    if shutil.which("meson") is None or not (BUILD / "meson-private").is_dir():
        pytest.skip(f"{BUILD} is no meson build dir")
    dest = env.root / "dest"
    p = run(["meson", "install", "--no-rebuild", "--quiet", "-C", str(BUILD),
             "--destdir", str(dest)], timeout=60 * h.SCALE)
    assert p.returncode == 0, p.stdout + p.stderr
    files = sorted(str(f.relative_to(dest)) for f in dest.rglob("*") if f.is_file())

    def one(pattern):
        found = [f for f in files if re.search(pattern, f)]
        assert len(found) == 1, (pattern, files)
        return dest / found[0]

    assert os.access(one(r"/bin/persh$"), os.X_OK)
    one(r"/persh/persh\.ini$")
    assert one(r"/bash-completion/completions/persh$").read_bytes() == \
        (ROOT / "contrib/completions/persh.bash").read_bytes()
    assert one(r"/zsh/(vendor-completions|site-functions)/_persh$").read_bytes() == \
        (ROOT / "contrib/completions/_persh").read_bytes()
    one(r"/share/doc/persh/ssh_config\.example$")
    user = one(r"/lib/systemd/user/persh\.service$")
    system = one(r"/lib/systemd/system/persh@\.service$")
    for unit in (user, system):
        assert re.search(r"^ExecStart=/\S+/bin/persh serve -f$", unit.read_text(), re.M)
    targets = json.loads(run(["meson", "introspect", "--targets", str(BUILD)]).stdout)
    if any(t["name"] == "persh.1" for t in targets):
        assert one(r"/man1/persh\.1$").read_text().count(".TH") == 1
        assert one(r"/man5/persh\.ini\.5$").read_text().count(".TH") == 1
