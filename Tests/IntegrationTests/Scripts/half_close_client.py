"""Calls the daemon the way one-shot clients do: sends whole calls, shuts down its writing side
(`shutdown(SHUT_WR)`), then reads until the daemon closes.

Usage: half_close_client.py SOCKET ROUNDS. Each round sends GetInfo and Status in one write and
needs both replies, then a RunJob with `more` for the job `hello` and needs its stream to the
final SUCCESSFUL reply. Prints `half-close ok ROUNDS`; exits 1 on the first round that fails."""
import json
import socket
import sys

path, rounds = sys.argv[1], int(sys.argv[2])


def exchange(payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return [json.loads(part) for part in data.split(b"\0") if part]


for round in range(rounds):
    replies = exchange(b'{"method":"org.varlink.service.GetInfo"}\0{"method":"io.jobcontrol.Manager.Status"}\0')
    if len(replies) != 2 or "interfaces" not in replies[0]["parameters"] or "version" not in replies[1]["parameters"]:
        print("FAIL round %d: %r" % (round, replies))
        sys.exit(1)
    if round % 10 == 0:
        stream = exchange(b'{"method":"io.jobcontrol.Manager.RunJob","parameters":{"job":"hello"},"more":true}\0')
        if not stream or stream[-1].get("continues") or stream[-1]["parameters"]["build"]["state"] != "SUCCESSFUL":
            print("FAIL round %d stream: %r" % (round, stream))
            sys.exit(1)
print("half-close ok", rounds)
