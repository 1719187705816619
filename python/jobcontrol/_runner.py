"""Runs one Python job function for jobcontrold: ``python -m jobcontrol._runner``.

The daemon passes, in the environment:
  JOBCONTROL_FUNCTION  ``package.module:callable`` (the callable may be dotted: ``Class.method``)
  JOBCONTROL_ARGS      the resolved args, a JSON list
  JOBCONTROL_KWARGS    the resolved kwargs, a JSON object
  JOBCONTROL_RESULT    where to write the outcome, as JSON:
                         {"retval": value} | {"skip": reason} |
                         {"exception": {"type", "message"}, "traceback": {"frames": [...]}}
Records logged with the standard ``logging`` module go to the build's log (over the control
socket, with the build's token); ``logger.exception`` sends its traceback along.
Exit status: 0 when the function returned or skipped, 1 when it raised (the result says how).
"""

import importlib
import json
import linecache
import logging
import os
import sys

import jobcontrol

#: Reprs of locals longer than this are cut (the daemon's TracebackInfo.maxReprLength).
MAX_REPR = 2048
#: Lines of code kept around each frame's line.
CONTEXT = 2
#: Log messages and exception messages longer than this are cut (the daemon stores at most
#: 64 KiB of an exception's message, and a log call must stay far below its 8 MiB limit).
MAX_MESSAGE = 1 << 20
#: Frames kept from each end of a deeper traceback (the daemon's TracebackInfo.maxFramesPerEnd),
#: one fewer at the start for the marker of those left out.
FRAMES_PER_END = 50
#: Locals kept per frame (the daemon keeps as many).
MAX_LOCALS = 200
#: The traceback's JSON, chained exceptions included, is made smaller past this (the daemon
#: reads a function's outcome file up to 16 MiB): locals, then context lines, outer frames first.
MAX_TRACEBACK_BYTES = 4 << 20
#: The integers a return value may hold: JSON here is 64-bit (the daemon would make others floats).
INT_RANGE = (-(1 << 63), (1 << 63) - 1)


def trimmed(text):
    if len(text) <= MAX_REPR:
        return text
    marker = f"… (cut from {len(text)} characters)"
    return text[: MAX_REPR - len(marker)] + marker


def cut(text, limit=MAX_MESSAGE):
    if len(text) <= limit:
        return text
    return text[:limit] + f"… (cut from {len(text)} characters)"


def safe_repr(value):
    try:
        return trimmed(repr(value))
    except BaseException as error:  # a broken __repr__ (even one raising SystemExit) must not hide the real failure
        return f"<repr failed: {type(error).__name__}>"


def traceback_json(tb, skip_runner=True):
    """The seed's traceback: every frame's file, line, function, code line with context, locals.
    A deep one (a RecursionError) keeps its ends, with a marker of what was left out."""
    entries = []
    while tb is not None:
        if not (skip_runner and tb.tb_frame.f_code.co_filename == __file__):
            entries.append(tb)
        tb = tb.tb_next
    omitted = 0
    if len(entries) > 2 * FRAMES_PER_END:
        omitted = len(entries) - (2 * FRAMES_PER_END - 1)
        entries = entries[: FRAMES_PER_END - 1] + [None] + entries[-FRAMES_PER_END:]
    frames = []
    for tb in entries:
        if tb is None:
            frames.append({"filename": "…", "lineno": None, "function": "(%d frames omitted)" % omitted,
                           "line": None, "context": [], "locals": {}})
            continue
        frame = tb.tb_frame
        code = frame.f_code
        lineno = tb.tb_lineno
        linecache.checkcache(code.co_filename)
        line = linecache.getline(code.co_filename, lineno, frame.f_globals).rstrip("\n")
        context = [
            linecache.getline(code.co_filename, number, frame.f_globals).rstrip("\n")
            for number in range(max(1, lineno - CONTEXT), lineno + CONTEXT + 1)
        ]
        while context and context[-1] == "":
            context.pop()
        frames.append({
            "filename": code.co_filename,
            "lineno": lineno,
            "function": code.co_name,
            "line": line.strip() or None,
            "context": context,
            # A module's frame has its globals as locals: not worth storing.
            "locals": {} if code.co_name == "<module>" else {
                name: safe_repr(value) for name, value in list(frame.f_locals.items())[:MAX_LOCALS]
            },
        })
    return {"frames": frames}


def shrink(traceback):
    """``traceback`` (with its chain) under MAX_TRACEBACK_BYTES of JSON: the outer frames'
    locals go first, then their context lines; the innermost frame of each keeps both."""
    def size():
        return len(json.dumps(traceback, ensure_ascii=True, default=str))
    if size() <= MAX_TRACEBACK_BYTES:
        return traceback
    every = [traceback] + traceback.get("chain", [])
    for key, empty in (("locals", {}), ("context", [])):
        for part in every:
            for frame in part["frames"][:-1]:
                frame[key] = empty
            if size() <= MAX_TRACEBACK_BYTES:
                return traceback
    for part in every:
        part["frames"][-1]["locals"] = {}
    return traceback


MAX_CHAIN = 5


def exception_json(error):
    """The traceback of ``error`` with the exceptions it was raised from or while handling
    (``raise … from``, or an exception in an ``except`` block), oldest first, as Python prints
    them: each with its type, message, relation ("cause" or "context") and frames."""
    result = traceback_json(error.__traceback__)
    chain = []
    seen = {id(error)}
    current = error
    while len(chain) < MAX_CHAIN:
        if current.__cause__ is not None:
            earlier, relation = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            earlier, relation = current.__context__, "context"
        else:
            break
        if id(earlier) in seen:
            break
        seen.add(id(earlier))
        entry = {"type": type_name(earlier), "message": safe_str(earlier), "relation": relation}
        entry.update(traceback_json(earlier.__traceback__))
        chain.append(entry)
        current = earlier
    if chain:
        result["chain"] = list(reversed(chain))
    return shrink(result)


def type_name(error):
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


class DaemonHandler(logging.Handler):
    """Sends each record to the build's log: level, logger, message, file, line, function, and
    the traceback of ``logger.exception``."""

    def emit(self, record):
        try:
            parameters = {
                "message": cut(record.getMessage()),
                "level": record.levelno,
                "logger": record.name,
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            }
            if record.exc_info and record.exc_info[2] is not None:
                parameters["traceback"] = (
                    exception_json(record.exc_info[1]) if record.exc_info[1] is not None
                    else traceback_json(record.exc_info[2]))
                kind, error = record.exc_info[0], record.exc_info[1]
                import traceback

                parameters["message"] += "\n" + "".join(traceback.format_exception_only(kind, error)).rstrip()
            jobcontrol._client().call("Log", parameters)
        except jobcontrol.JobControlError as error:
            if error.error != "io.jobcontrol.Reentered":
                self.handleError(record)
                return
            # Logged by a signal handler while a call was under way: to stderr, which the
            # build's log gets too, rather than waiting for ever on the call it interrupted.
            sys.stderr.write(cut(record.getMessage()) + "\n")
        except Exception:
            self.handleError(record)


def resolve(spec):
    module_name, _, attribute = spec.partition(":")
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{spec} is not callable (it is {type(target).__name__})")
    return target


def outcome_text(outcome):
    return json.dumps(outcome, ensure_ascii=True, allow_nan=False)


def write_result(path, outcome, text=None):
    """Writes `outcome` (or its JSON `text`, when already made) where the daemon reads it."""
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text if text is not None else outcome_text(outcome))
    os.replace(temporary, path)


def safe_str(value):
    try:
        return cut(str(value))
    except BaseException as error:  # a broken __str__ (even one raising SystemExit) must not hide the failure
        return f"<str failed: {type(error).__name__}>"


def check_integers(value):
    """Raises ValueError for an integer JSON here cannot hold exactly (past 64 bits)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not INT_RANGE[0] <= item <= INT_RANGE[1]:
                raise ValueError("the integer %s is past 64 bits; return it as a string" % safe_repr(item)[:40])
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def write_failure(path, error):
    """The exception as the outcome; if even that cannot be written (a traceback that is not
    JSON), the type and message alone."""
    try:
        write_result(path, {
            "exception": {"type": type_name(error), "message": safe_str(error)},
            "traceback": exception_json(error),
        })
    except Exception as writing:
        write_result(path, {
            "exception": {"type": type_name(error), "message": safe_str(error)},
            "traceback": {"frames": []},
            "note": f"the traceback could not be written: {type(writing).__name__}",
        })


def main():
    spec = os.environ["JOBCONTROL_FUNCTION"]
    result_path = os.environ["JOBCONTROL_RESULT"]
    args = json.loads(os.environ.get("JOBCONTROL_ARGS", "[]"))
    kwargs = json.loads(os.environ.get("JOBCONTROL_KWARGS", "{}"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if jobcontrol.inside_build():
        root.addHandler(DaemonHandler())
    else:
        root.addHandler(logging.StreamHandler(sys.stderr))
    root.setLevel(logging.DEBUG)
    try:
        function = resolve(spec)
        value = function(*args, **kwargs)
    except jobcontrol.Skip as skipped:
        write_result(result_path, {"skip": safe_str(skipped.reason)})
        return 0
    except BaseException as error:  # SystemExit and KeyboardInterrupt fail the build too
        write_failure(result_path, error)
        return 1
    try:
        # Made once: first, as it refuses cycles (which check_integers would follow), then written.
        text = outcome_text({"retval": value})
        check_integers(value)
        write_result(result_path, None, text)
    except Exception as error:  # not JSON, too deep (RecursionError), a container whose items() raises
        write_result(result_path, {
            "exception": {
                "type": "ReturnValueNotSerializable",
                "message": f"{spec} returned {type(value).__name__}, which is not JSON: {safe_str(error)}",
            },
            "traceback": {"frames": []},
        })
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
