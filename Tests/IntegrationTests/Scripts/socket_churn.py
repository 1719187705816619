"""Hostile churn against a running jobcontrold's control socket.

Usage: socket_churn.py SOCKET ROUNDS [SEED]

Each round picks one kind of client at random: connects and vanishes, half-closes in the middle
of a message, sends garbage or deep nesting, sends an oversized message, holds a connection idle, calls and
reads, calls and resets before the reply, follows a running build and drops, half-closes after a
`more` call and reads the stream to its end. Every 25 rounds a normal client calls Status and
must be answered within 5 s. Prints one line per kind with its count, then `churn ok` and the
slowest Status; exits 1 on the first check that fails.
"""
import json
import random
import socket
import struct
import sys
import time

PATH = sys.argv[1]
ROUNDS = int(sys.argv[2])
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)


def fail(message):
    print("FAIL", message, flush=True)
    sys.exit(1)


def connect(timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(PATH)
    return s


def message(method, parameters=None, more=False):
    body = {"method": method}
    if parameters is not None:
        body["parameters"] = parameters
    if more:
        body["more"] = True
    return json.dumps(body).encode() + b"\0"


def read_until_eof(s, limit=1 << 22):
    data = b""
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            return data, True
        data += chunk
    return data, False


def read_messages(s, count):
    data = b""
    while data.count(b"\0") < count:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return [json.loads(part) for part in data.split(b"\0")[:count] if part]


def reset(s):
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


idle = []


def vanish():
    connect().close()


def half_close_mid_message():
    s = connect()
    s.sendall(b'{"method":"io.jobcontrol.Manager.Sta')
    s.shutdown(socket.SHUT_WR)
    data, eof = read_until_eof(s)
    if not eof or data:
        fail("a half-closed partial message got %r (eof %s)" % (data[:200], eof))
    s.close()


def garbage():
    s = connect()
    if rng.random() < 0.5:
        s.sendall(bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 300))) + b"\0")
    else:
        depth = rng.choice([600, 10000, 1000000])
        try:
            s.sendall(b'{"method":"io.jobcontrol.Manager.Status","parameters":{"x":' + b"[" * depth + b"]" * depth + b"}}\0")
        except BrokenPipeError:
            pass  # over 64 KiB: refused (RequestTooLarge) and closed before the end
    try:
        data, eof = read_until_eof(s)
    except ConnectionResetError:
        data, eof = b"error (reset)", True  # refused while the rest was still arriving
    if not eof or b"error" not in data:
        fail("garbage got %r (eof %s)" % (data[:200], eof))
    s.close()


def oversized():
    s = connect()
    chunk = b"x" * (1 << 20)
    sent = 0
    try:
        for _ in range(12):
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    if sent >= 12 << 20:
        fail("the daemon read 12 MiB without a NUL")
    s.close()


def hold_idle():
    idle.append(connect())
    while len(idle) > 40:
        idle.pop(rng.randrange(len(idle))).close()


def call_and_read():
    s = connect()
    s.sendall(message("io.jobcontrol.Manager.ListJobs"))
    replies = read_messages(s, 1)
    if not replies or "jobs" not in replies[0].get("parameters", {}):
        fail("ListJobs got %r" % replies)
    s.close()


def call_and_reset():
    s = connect()
    s.sendall(message(rng.choice(["io.jobcontrol.Manager.Status", "io.jobcontrol.Manager.ListBuilds"])))
    reset(s)


def follow_and_drop():
    s = connect()
    s.sendall(message("io.jobcontrol.Manager.RunJob", {"job": "ticker"}, more=True))
    replies = read_messages(s, 1)
    if not replies or "build" not in replies[0].get("parameters", {}):
        fail("RunJob more got %r" % replies)
    build = replies[0]["parameters"]["build"]["id"]
    s.close()
    s = connect()
    s.sendall(message("io.jobcontrol.Manager.GetLogs", {"build": build}, more=True))
    read_messages(s, 1)
    if rng.random() < 0.5:
        reset(s)
    else:
        s.close()


def half_close_stream():
    s = connect(timeout=30)
    s.sendall(message("io.jobcontrol.Manager.RunJob", {"job": "hello"}, more=True))
    s.shutdown(socket.SHUT_WR)
    data, eof = read_until_eof(s)
    replies = [json.loads(part) for part in data.split(b"\0") if part]
    if not eof or not replies or replies[-1].get("continues") or replies[-1]["parameters"]["build"]["state"] != "SUCCESSFUL":
        fail("a half-closed RunJob stream ended with %r (eof %s)" % (replies[-1:], eof))
    s.close()


KINDS = [
    (vanish, 20), (half_close_mid_message, 10), (garbage, 10), (oversized, 1), (hold_idle, 10),
    (call_and_read, 20), (call_and_reset, 15), (follow_and_drop, 3), (half_close_stream, 3),
]
counts = {kind.__name__: 0 for kind, _ in KINDS}
slowest = 0.0
for round in range(ROUNDS):
    kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    try:
        kind()
    except OSError as error:
        fail("%s: %s" % (kind.__name__, error))
    counts[kind.__name__] += 1
    if round % 25 == 0:
        start = time.monotonic()
        s = connect(timeout=5)
        s.sendall(message("io.jobcontrol.Manager.Status"))
        replies = read_messages(s, 1)
        s.close()
        if not replies or "version" not in replies[0].get("parameters", {}):
            fail("a normal Status call got %r" % replies)
        slowest = max(slowest, time.monotonic() - start)
for s in idle:
    s.close()
for name, count in counts.items():
    print(name, count)
print("churn ok, slowest Status %.3f s" % slowest, flush=True)
