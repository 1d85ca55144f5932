#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets into tests/fuzz/corpus/.

Seeds are named seed-*; files the fuzzer found (merged in with -merge=1,
named by their SHA-1), crash regressions (crash-*) and inputs kept for an
exception to an invariant (invariant-*) are left alone. Re-running rewrites
the seeds with the same bytes, except the authorized_keys ones, whose keys
are made fresh by ssh-keygen (only public halves are written).

    tests/fuzz/seed.py
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

# proto.h
HELLO, HEARTBEAT, ERROR = 1, 2, 3
ATTACH, INPUT, RESIZE, DETACH, LIST, KILL, DETACH_ALL, GONE, EXIT_SEEN = range(10, 19)
ATTACHED, OUTPUT, EXIT, DETACHED, SESSION, OK, REDRAW, STATS = range(20, 28)
MAGIC, VERSION = 0x50525348, 1
MAX_PAYLOAD = 65536 + 64
RHELLO, RWELCOME, RCHALLENGE, RPROOF, RRESUMED, RDATA, RACK, REOF, RHEARTBEAT = range(40, 49)
RMAGIC, RVERSION = 0x50524C59, 1
# fuzz_relay.c's own frames
FZ_SOURCE, FZ_SEND, FZ_CLOSE, FZ_TRIM, FZ_ACK_TAKE = range(60, 65)


def write(target, name, data):
    """One seed file."""
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def frame(ftype, payload=b"", reserved=0, length=None):
    """An 8-byte header and its payload."""
    n = len(payload) if length is None else length
    return struct.pack(">HHI", ftype, reserved, n) + payload


def pstr(s):
    """A one-byte-length string."""
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b)]) + b


def hello(timeout=12000, pid=4242, version=VERSION, extra=b""):
    return frame(HELLO, struct.pack(">IHHII", MAGIC, version, 0, timeout, pid) + extra)


def attach(name="main", term="xterm-256color", rows=24, cols=80, flags=1, offset=0):
    return frame(ATTACH, struct.pack(">HHIQ", rows, cols, flags, offset) + pstr(name) + pstr(term))


def attached(name="main", pid=99, rows=24, cols=80, offset=0, flags=8):
    return frame(ATTACHED, struct.pack(">IHHQI", pid, rows, cols, offset, flags) + pstr(name))


def session(name="main", state=1, status=-1):
    return frame(SESSION, struct.pack(">IHHHBBiqqq", 99, 24, 80, 1, state, 0, status,
                                      1700000000, 1500, -1) + pstr(name))


def text(ftype, code, msg):
    return frame(ftype, struct.pack(">H", code) + pstr(msg))


def stats():
    return frame(STATS, struct.pack(">H", 17) +
                 b"".join(struct.pack(">HQ", e, e * 3) for e in range(1, 18)))


def proto_seeds():
    """Byte 0 seeds the chunk sizes; then the stream, either way."""
    client = (hello() + attach() + frame(INPUT, b"ls -l\r") + frame(RESIZE, struct.pack(">HH", 50, 132)) +
              frame(HEARTBEAT, bytes(8)) + frame(INPUT, b"x") + frame(DETACH))
    daemon = (hello(pid=1) + attached() + frame(REDRAW, b"\033[H\033[2Jprompt$ ") +
              frame(OUTPUT, struct.pack(">Q", 0) + b"total 0\r\n") + frame(HEARTBEAT, bytes(8)) +
              frame(EXIT, struct.pack(">I", 0)) + text(DETACHED, 1, "detached"))
    seeds = {
        "client": client,
        "daemon": daemon,
        "ls": hello() + frame(LIST, bytes(4)) + session() + session("work", 4, -1) +
        session("old", 3, 130) + stats() + frame(OK),
        "kill": hello() + frame(KILL, pstr("work")) + frame(OK),
        "detach-all": hello() + frame(DETACH_ALL, pstr("main")) + frame(OK),
        "gone": hello() + attach() + frame(GONE, struct.pack(">H", 4)),
        "exit-seen": hello() + attach(flags=4, offset=123456) + frame(EXIT_SEEN),
        "resume-repaint": hello() + attach(flags=0xc, offset=1 << 40, rows=0, cols=0),
        "readonly": hello() + attach(name="a.b_c-d", term="", flags=2),
        "error": hello() + text(ERROR, 3, "no session named 'x'"),
        "error-empty": text(ERROR, 1, ""),
        "future-hello": hello(version=2, extra=b"later fields"),
        "hello-bad-magic": frame(HELLO, struct.pack(">IHHII", 0x12345678, 1, 0, 0, 0)),
        "attach-long-term": hello() + attach(term="x" * 255),
        "attach-nul": hello() + frame(ATTACH, struct.pack(">HHIQ", 1, 1, 1, 0) + b"\x02m\x00\x01t"),
        "attach-short": hello() + frame(ATTACH, struct.pack(">HHIQ", 1, 1, 1, 0) + b"\x05ab"),
        "name-too-long": hello() + frame(KILL, pstr("n" * 100)),
        "oversized": hello() + frame(INPUT, length=MAX_PAYLOAD + 1),
        "reserved": hello() + frame(INPUT, b"abc", reserved=1),
        "max-input": hello() + frame(INPUT, b"\x01" * MAX_PAYLOAD) + frame(INPUT, b"ok"),
        "big-output": hello() + frame(OUTPUT, struct.pack(">Q", 0) + b"y" * 20000),
        "truncated": hello() + frame(INPUT, b"abcdef")[:-2],
        "half-header": hello() + frame(INPUT, b"abc")[:5],
        "unknown-type": hello() + frame(999, b"?"),
        "bad-resize": hello() + frame(RESIZE, b"\x00\x18"),
        "odd-inputs": hello() + b"".join(frame(INPUT, b"z" * k) for k in range(1, 12)),
    }
    for i, (name, data) in enumerate(sorted(seeds.items())):
        write("proto", name, bytes([i * 37 % 256]) + data)


def relay_seeds():
    """Capacity choice, bytes given (x 257), share sent (/ 255), frames."""
    rid = bytes(range(16))
    key = bytes(range(100, 132))
    new = frame(RHELLO, struct.pack(">IHHI", RMAGIC, RVERSION, 1, 12000) + key)
    resume = frame(RHELLO, struct.pack(">IHHI", RMAGIC, RVERSION, 2, 12000) + rid)
    welcome = frame(RWELCOME, rid + key + struct.pack(">I", 9000))
    challenge = frame(RCHALLENGE, bytes(range(200, 232)))

    def u32(t, n):
        return frame(t, struct.pack(">I", n))

    def off(t, n):
        return frame(t, struct.pack(">Q", n))

    seeds = {
        "new": bytes([4, 10, 128]) + new + welcome + frame(RDATA, b"SSH-2.0-x\r\n") +
        u32(FZ_SOURCE, 40) + u32(FZ_SEND, 40) + off(RACK, 40) + frame(RHEARTBEAT),
        "resume": bytes([5, 100, 200]) + resume + challenge +
        frame(RPROOF, bytes(32) + struct.pack(">Q", 5000)) +
        frame(RRESUMED, struct.pack(">QI", 7000, 12000)) + u32(FZ_SEND, 100000),
        "ack-everything": bytes([3, 4, 255]) + off(RACK, 1028) + u32(FZ_ACK_TAKE, 0) +
        frame(FZ_TRIM),
        "eof": bytes([2, 0, 0]) + u32(FZ_SOURCE, 50) + frame(FZ_CLOSE) + u32(FZ_SEND, 50) +
        off(RACK, 50) + frame(RDATA, b"abc") + off(REOF, 3) + off(REOF, 3),
        "bad-offsets": bytes([6, 255, 64]) + off(RACK, 1 << 63) + off(REOF, 9) +
        frame(RRESUMED, struct.pack(">QI", 1 << 62, 1)) + off(RACK, 0),
        "wrap": bytes([3, 3, 255]) + u32(FZ_SOURCE, 3001) + off(RACK, 3000) +
        u32(FZ_SOURCE, 3000) + u32(FZ_SEND, 5000) + off(RACK, 6000) + u32(FZ_SOURCE, 4096),
        "grow": bytes([7, 60, 0]) + u32(FZ_SOURCE, 300000) + u32(FZ_SEND, 70000) +
        off(RACK, 65536) + frame(FZ_TRIM) + u32(FZ_SEND, 1 << 20) + off(RACK, 300000) +
        frame(FZ_TRIM),
        "acks-due": bytes([1, 0, 0]) + frame(RDATA, b"d" * 65535) + frame(RDATA, b"d") +
        u32(FZ_ACK_TAKE, 0),
        "tiny": bytes([0, 1, 255]) + u32(FZ_SOURCE, 2) + off(RACK, 1) + u32(FZ_SOURCE, 3),
        "other-version": bytes([4, 0, 0]) + frame(RHELLO, struct.pack(">IH", RMAGIC, 7)) +
        frame(RHELLO, struct.pack(">IHHI", RMAGIC, RVERSION, 1, 0) + key[:10]),
        "error": bytes([4, 0, 0]) + new + text(ERROR, 12, "cannot connect"),
        "low-order-key": bytes([4, 0, 0]) + frame(RWELCOME, rid + bytes(32) + struct.pack(">I", 1)),
    }
    for name, data in sorted(seeds.items()):
        write("relay", name, data)


def config_seeds():
    with open(os.path.join(ROOT, "conf", "persh.ini"), "rb") as f:
        write("config", "persh.ini", f.read())
    seeds = {
        "empty": "",
        "every-section": "[daemon]\n[session]\n[heartbeat]\n[ssh]\n[client]\n[relay]\n",
        "every-key": """[daemon]
runtime_dir = /run/persh
log = /var/log/persh.log
log_level = debug
[session]
default = work
shell = /bin/bash
term = screen-256color
scrollback = 2M
restore = replay
client_buffer = 512K
stall_timeout = never
max_sessions = 10
orphan_timeout = 1h
detached_timeout = 30m
hangup_grace = 500ms
[heartbeat]
interval = 1s
timeout = 5s
[ssh]
listen = [::1]:2222
host_key = /etc/persh/key
authorized_keys = /etc/persh/keys
keepalive_interval = 2s
keepalive_count = 5
login_grace = 10s
max_unauth = 3
[client]
detach_key = C-a
reconnect = no
reconnect_base = 100ms
reconnect_max = 1m
ssh_config = /etc/ssh/ssh_config
[relay]
listen = 0.0.0.0:2223
target = ssh
buffer = 64K
resume_window = 24h
max_streams = 1
""",
        "edge-values": "[daemon]\nlog =;odd\nruntime_dir = /a=b:c;d #e\n[session]\nterm = #x\n"
        "scrollback = 1048577\nclient_buffer = 5000\nstall_timeout = never\n[heartbeat]\n"
        "interval = 1500ms\ntimeout = 3001ms\n[client]\ndetach_key =;\n",
        "crlf-bom": "\ufeff[client]\r\ndetach_key = ^?\r\nreconnect: off",
        "indent-dup": "[session]\n  default = a\n\tdefault = b ; comment\n",
        "bad-key": "[session]\nshel = /bin/sh\n",
        "bad-section": "[sesion]\n",
        "outside": "key = value\n",
        "syntax": "[daemon\nlog\n",
        "long-line": "[daemon]\nlog = " + "x" * 190 + "\n",
        "nul": "[daemon]\nlog = a\0b\n",
        "checks": "[heartbeat]\ninterval = 10s\ntimeout = 15s\n",
        "relay-checks": "[relay]\nlisten = 0.0.0.0:1\ntarget = ssh\n",
        "value-duration": "18446744073709551615ms",
        "value-size": "17592186044415M",
        "value-key": "^[",
        "value-addr": "[fe80::1%eth0]:65535",
    }
    for name, data in sorted(seeds.items()):
        write("config", name, data)


def authkeys_seeds():
    tmp = tempfile.mkdtemp()
    try:
        pubs = {}
        for name, args in [("ed25519", ["-t", "ed25519"]), ("p256", ["-t", "ecdsa", "-b", "256"]),
                           ("p384", ["-t", "ecdsa", "-b", "384"]),
                           ("p521", ["-t", "ecdsa", "-b", "521"]),
                           ("rsa2048", ["-t", "rsa", "-b", "2048"])]:
            path = os.path.join(tmp, name)
            subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", "fuzz@" + name, "-f", path] + args,
                           check=True)
            with open(path + ".pub") as f:
                pubs[name] = f.read().strip()
        # A certificate of the ed25519 key, signed by a throwaway CA.
        ca = os.path.join(tmp, "ca")
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", ca], check=True)
        subprocess.run(["ssh-keygen", "-q", "-s", ca, "-I", "fuzz", "-n", "user",
                        os.path.join(tmp, "ed25519.pub")], check=True)
        with open(os.path.join(tmp, "ed25519-cert.pub")) as f:
            cert = f.read().strip()
    finally:
        shutil.rmtree(tmp)  # the private keys go with it

    ed = pubs["ed25519"]
    ed_type, ed_b64, _ = ed.split(" ", 2)
    p256_b64 = pubs["p256"].split(" ")[1]
    for name, line in pubs.items():
        write("authkeys", name, line + "\n")
    seeds = {
        "all": "\n".join(pubs.values()) + "\n",
        "comments-crlf": "# keys\r\n\r\n  \t\n" + ed + "\r\n#" + pubs["p256"] + "\n",
        "options": 'from="10.0.0.1",command="echo \\"hi\\"" ' + ed + "\nno-pty " + pubs["p384"],
        "unbalanced": 'command="x ' + ed,
        "certificate": cert + "\n",
        "wrong-type": "ssh-rsa " + ed_b64 + "\necdsa-sha2-nistp384 " + p256_b64 + "\n",
        "bad-base64": ed_type + " " + ed_b64[:-1] + "\n" + ed_type + " " + ed_b64[:10] + "!" +
        ed_b64[11:] + "\n",
        "truncated": ed_type + " " + ed_b64[:20] + "\n" + ed_type + " " + ed_b64[:8] + "\n",
        "missing-blob": "ssh-ed25519\n  ssh-ed25519 \t \r\n",
        "refused-types": "ssh-dss AAAA\nrsa-sha2-256 " + ed_b64 + "\nsk-ssh-ed25519@openssh.com AAAA\n",
        "nul": ed + "\0x\n" + ed + "\n",
        "no-newline": ed,
        "duplicates": (ed + "\n") * 3,
    }
    for name, data in sorted(seeds.items()):
        write("authkeys", name, data)


def screen_seeds():
    """rows, cols, chunk seed, resize byte; then output."""
    rec = os.path.join(ROOT, "tests", "unit", "recordings")
    for name, size, skip in [("vim-24x80.rec", 3000, 0), ("vim-alt-24x80.rec", 3000, 0),
                             ("vim-big-50x200.rec", 4000, 0), ("less-24x80.rec", 3000, 4000),
                             ("top-24x80.rec", 3000, 0), ("colours-24x80.rec", 3000, 2000),
                             ("ls-24x80.rec", 2500, 10000), ("seq-24x80.rec", 2000, 100000),
                             ("unicode-24x80.rec", 600, 0), ("modes-24x80.rec", 600, 0),
                             ("scroll-region-24x80.rec", 2200, 0)]:
        with open(os.path.join(rec, name), "rb") as f:
            data = f.read()[skip:skip + size]
        rows, cols = (50, 200) if "50x200" in name else (24, 80)
        write("screen", name[:-4], bytes([rows - 1, cols - 1, 7, 0]) + data)
    seeds = {
        "attributes": "\033[1mB\033[2mF\033[3mI\033[4mU\033[21mD\033[4:3mC\033[5mK\033[7mR\033[8mH"
        "\033[9mS\033[12mT\033[0m\r\n\033[31;42ma\033[91;102mb\033[38;5;200;48;5;17mc"
        "\033[38;2;1;2;3;48;2;250;251;252md\033[38:5:100me\033[39;49mg\033[0m\r\n"
        "\033[44;4m\033[K\033[m\r\n\033[45;1;7m\033[5X\033[m\033[10C\033[46m\033[3X\r\n"
        "\033[41m\033[2J\033[10;10H\033[1Jtext\033[0m\033[1\"qPROT\033[0\"qfree\033[11;1H\033[?2J",
        "wide": "\u65e5\u672c\u8a9e\u65e5\u672c\r\n\u65e5\u672c\u8a9e\033[2;2Hx\033[2;5Hy\r\n"
        "ab\u65e5\u672c\033[3;1H\033[P\033[3;9H\033[1K\r\n0123456789012345678\u65e5\r\n"
        "\033[6;19H\U0001f600\u2705z",
        "combining": "e\u0301 a\u0300\u0301\u0302\u0303\u0304\u0305\u0306 \u65e5\u0301 x\r\n"
        "\u0301lone\033[2;10H\u0302mark\r\nn\u0303n\u0303\033[3;1H\033[2@\033[3;5H\033[P\r\n"
        "\033[?69h\033[2;6s\033[4;3Ho\u0308o\u0308\033[4;3H\033[L\033[S\033[?69l",
        "alt-1049": "main\033[1;31m\0337\033[?1049h\033[44mALT\033[5;5Hx\033[?1049lback",
        "alt-1047": "main\033[?1047hALT\033cafter reset\033[?1047l",
        "modes": "\033[?1h\033=\033[?1000;1006h\033[?1002h\033[?2004h\033[?1004h\033[?25l"
        "\033[5 q\033[?12h\033[4h\033[20h\033[?5h\033[?7l" + "x" * 100,
        "margins": "\033[3;7r\033[?6h\033[1;1Htop\033[20;1Hbottom\r\n\r\n\r\nr\033[L"
        "\033[?69h\033[5;20s\033[2;3Hin\033[M\033[?6l",
        "pending-wrap": "x" * 79 + "\u65e5" + "\033[24;80HZ\033[?7lq\033[?7h",
        "saved-tabs-charsets": "\033[3;7H\033[1;35m\0337\033[m\033[9;1Hz\0338after"
        "\033[3g\033[1;5H\033H\033[1;23H\033H\tA\tB\033(0lqk\033)0\016lqk\017\033*A\033n#\033o",
        "titles": "\033]0;both\a\033]2;t\033\\\033]1;i\a\033]2;\u65e5\u672c\a\033]2;" +
        "t" * 600 + "\a",
        "cut-sequences": "abc\033[3",
        "cut-utf8": b"x\xe6\x97",
        "double-width": "\033#6wide\r\n\033#3top\r\n\033#4bottom\r\nnormal\033#8",
        "rep": "a\033[5b\u0301\033[3b\033[b",
        "many-params": "\033[" + ";".join(["1"] * 40) + "m" + "\033[?" + ";".join(["1000"] * 20) + "h",
        "dcs-osc": "\033P$qr\033\\\033_apc\033\\\033]8;;http://x\033\\link\033]8;;\033\\",
        "scroll": "".join("line %d\r\n" % i for i in range(60)) + "\033[5S\033[3T\033M\033D\033E",
        "erase-protect": "\033[1\"qPROT\033[0\"q\033[?1J\033[?2K\033[2J\033[K\033[1K\033[X",
    }
    sizes = [(24, 80, 0), (5, 20, 0x38), (10, 40, 0x85), (1, 1, 0), (60, 200, 0x2f),
             (3, 7, 0xa3)]
    for i, (name, data) in enumerate(sorted(seeds.items())):
        rows, cols, resize = sizes[i % len(sizes)]
        raw = data.encode("utf-8") if isinstance(data, str) else data
        write("screen", name, bytes([rows - 1, cols - 1, i * 13 % 256, resize]) + raw)


def main():
    proto_seeds()
    relay_seeds()
    config_seeds()
    authkeys_seeds()
    screen_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
