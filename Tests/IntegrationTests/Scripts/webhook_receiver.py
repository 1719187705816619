#!/usr/bin/env python3
"""A webhook receiver for the notification tests: an independent check of jobcontrold's webhooks.

It verifies each request's X-JobControl-Signature-256 with Python's own hmac module and writes
one JSON line per event to --log: "received" when a request arrives, "answered" once its
response was written. The path picks the behaviour:
  /ok       answers 200
  /flaky    answers 500 to the first --fail-first requests of each delivery id, then 200
  /never    never answers (the sender's timeout)
  /control  reads --control: "hang" holds the request until the file says anything else, then 200
"""
import argparse
import hashlib
import hmac
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port-file", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--secret", default="")
parser.add_argument("--fail-first", type=int, default=2)
parser.add_argument("--control", default="")
parser.add_argument("--tls-cert", default="", help="serve HTTPS with this certificate (PEM) ...")
parser.add_argument("--tls-key", default="", help="... and this key")
args = parser.parse_args()

lock = threading.Lock()
seen = {}


def record(entry):
    with lock:
        with open(args.log, "a") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *arguments):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        delivery = self.headers.get("X-JobControl-Delivery", "")
        signature = self.headers.get("X-JobControl-Signature-256")
        expected = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        entry = {
            "kind": "received", "path": self.path, "delivery": delivery,
            "attempt": self.headers.get("X-JobControl-Attempt"), "event": self.headers.get("X-JobControl-Event"),
            "signature_ok": signature is not None and hmac.compare_digest(signature, expected),
            "signed": signature is not None, "content_type": self.headers.get("Content-Type"), "body": parsed,
        }
        record(entry)
        status = 200
        if self.path == "/flaky":
            with lock:
                seen[delivery] = seen.get(delivery, 0) + 1
                count = seen[delivery]
            status = 500 if count <= args.fail_first else 200
        elif self.path == "/never":
            time.sleep(3600)
        elif self.path == "/control":
            while open(args.control).read().strip() == "hang":
                time.sleep(0.05)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            # A failure's answer carries a line break and an escape sequence (someone else's text).
            self.wfile.write(b"ok\n" if status == 200 else b"try again\r\n\x1b[31mforged line\n")
            self.wfile.flush()
        except OSError:
            return
        record({"kind": "answered", "path": self.path, "delivery": delivery, "status": status,
                "attempt": entry["attempt"]})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if args.tls_cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as port_file:
    port_file.write(str(server.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
server.serve_forever()
