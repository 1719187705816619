"""The jobcontrol module: what a Python job function can ask of the build running it.

Inside a build (the daemon runs the function with ``python -m jobcontrol._runner``) the calls
reach the daemon over its control socket, with the build's token, as ``jobctl progress`` does.
Outside one (a unit test of job code) they do nothing, so job code can be imported and called
directly.

    import logging
    import jobcontrol

    log = logging.getLogger(__name__)

    def backup(paths, target="/srv/backup"):
        for index, path in enumerate(paths):
            jobcontrol.progress(index, len(paths), status=f"copying {path}")
            with jobcontrol.group("copy::" + path):
                ...
        if not paths:
            jobcontrol.skip("nothing to back up")
        log.info("copied %d paths", len(paths))
        return {"copied": len(paths)}
"""

# Imports are few and light: every build starts a fresh interpreter (socket is imported on the
# first call to the daemon).
import json
import os
import threading

__all__ = [
    "Skip", "JobControlError", "progress", "group", "skip", "build_id", "job_id", "args", "kwargs",
    "parameters",
    "inside_build",
]


class Skip(Exception):
    """Raised by :func:`skip`: the build ends SKIPPED (with this reason) instead of SUCCESSFUL."""

    def __init__(self, reason=""):
        super().__init__(reason)
        self.reason = reason


class JobControlError(Exception):
    """The daemon refused a call (its Varlink error name and message)."""

    def __init__(self, error, message=""):
        super().__init__(f"{error}: {message}" if message else error)
        self.error = error


def inside_build():
    """True when running as a build (the daemon gave a token and a socket)."""
    return bool(os.environ.get("JOBCONTROL_TOKEN") and os.environ.get("JOBCONTROL_SOCKET"))


def build_id():
    """The id of the running build, or None outside a build."""
    value = os.environ.get("JOBCONTROL_BUILD_ID")
    return int(value) if value else None


def job_id():
    """The id of the job being built, or None outside a build."""
    return os.environ.get("JOBCONTROL_JOB_ID")


def args():
    """The build's resolved ``args`` (a list), as the function received them."""
    return json.loads(os.environ.get("JOBCONTROL_ARGS", "[]"))


def kwargs():
    """The build's resolved ``kwargs`` (a dict), as the function received them."""
    return json.loads(os.environ.get("JOBCONTROL_KWARGS", "{}"))


def parameters():
    """The build's parameter values (the job's ``parameters:``), typed: ints, bools, strings."""
    return json.loads(os.environ.get("JOBCONTROL_PARAMETERS", "{}"))


_group_stack = threading.local()


def _current_group():
    stack = getattr(_group_stack, "names", None)
    return "::".join(stack) if stack else ""


class group:
    """Nests :func:`progress` calls made inside the ``with`` block under ``name`` (``a::b``)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        stack = getattr(_group_stack, "names", None)
        if stack is None:
            stack = _group_stack.names = []
        stack.append(self.name)
        return self

    def __exit__(self, *exc_info):
        _group_stack.names.pop()
        return False


def progress(current, total, group=None, status=None):
    """Reports progress: ``current`` of ``total``, in ``group`` (nested with ``::``; default: the
    enclosing :func:`group` blocks), with an optional status line. Stored before it returns."""
    if not inside_build():
        return
    if isinstance(group, (tuple, list)):  # the seed's nesting as a tuple: ("download", "file-3")
        group = "::".join(group)
    name = group if group is not None else _current_group()
    parameters = {"current": int(current), "total": int(total), "group": name}
    if status is not None:
        parameters["status"] = str(status)
    _client().call("ReportProgress", parameters)


def skip(reason=""):
    """Ends the build SKIPPED instead of SUCCESSFUL: raises :class:`Skip`."""
    raise Skip(reason)


class _Client:
    """One Varlink connection to the daemon for the life of the build (calls are serialized)."""

    #: The daemon refuses a message larger than this (its frame limit for builds' calls).
    MAX_MESSAGE = 8 << 20

    def __init__(self, path, token):
        self.path = path
        self.token = token
        self.lock = threading.Lock()
        # The thread inside a call: a signal handler that logs while its thread waits for a
        # reply would otherwise wait for the lock that thread holds, for ever.
        self.owner = None
        self.sock = None
        self.buffer = b""
        self.pid = os.getpid()

    def call(self, method, parameters):
        message = {"method": "io.jobcontrol.Build." + method, "parameters": dict(parameters, token=self.token)}
        # UTF-8 as is, not \uXXXX escapes: a message of non-ASCII text stays at most 4 bytes a character.
        # allow_nan=False: NaN and infinities are not JSON; the caller gets ValueError, not a
        # message the daemon cannot read.
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
            "utf-8", "backslashreplace") + b"\0"
        if len(data) > self.MAX_MESSAGE:
            raise JobControlError(
                "io.jobcontrol.MessageTooLarge",
                "%s of %d bytes is over the daemon's limit of %d" % (method, len(data), self.MAX_MESSAGE))
        if self.owner == threading.get_ident():
            raise JobControlError(
                "io.jobcontrol.Reentered", "%s was called from a signal handler while a call was under way" % method)
        with self.lock:
            self.owner = threading.get_ident()
            try:
                reply = self._exchange(data)
            finally:
                self.owner = None
        reply = json.loads(reply)
        if "error" in reply:
            raise JobControlError(reply["error"], (reply.get("parameters") or {}).get("message", ""))
        return reply.get("parameters", {})

    def _exchange(self, data):
        """Sends one message and reads its reply. A connection that failed is dropped, so the
        next call opens a new one instead of failing on a dead socket for the rest of the build."""
        try:
            if self.sock is None:
                import socket

                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(self.path)
            self.sock.sendall(data)
            while b"\0" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise JobControlError("io.jobcontrol.Disconnected", "the daemon closed the connection")
                self.buffer += chunk
        except BaseException:
            if self.sock is not None:
                self.sock.close()
            self.sock = None
            self.buffer = b""
            raise
        reply, _, self.buffer = self.buffer.partition(b"\0")
        return reply


_the_client = None


def _client():
    global _the_client
    # A forked process (multiprocessing) gets a connection of its own: sharing the parent's
    # would mix replies, and a lock held at the fork would never be released in the child.
    if _the_client is None or _the_client.pid != os.getpid():
        _the_client = _Client(_socket_path(), os.environ["JOBCONTROL_TOKEN"])
    return _the_client


def _socket_path():
    """The builds' socket when the daemon has one (a build that runs as another user may not
    open the control socket), else the control socket."""
    builds = os.environ.get("JOBCONTROL_BUILD_SOCKET")
    if builds and os.path.exists(builds):
        return builds
    return os.environ["JOBCONTROL_SOCKET"]
