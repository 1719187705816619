"""Python job functions for the integration tests (tests/PythonFunctionTests.swift)."""

import ctypes
import logging
import os

import jobcontrol

log = logging.getLogger("jobpkg.tasks")


def produce(count, label="items"):
    with jobcontrol.group("produce"):
        for index in range(count):
            jobcontrol.progress(index + 1, count, status=f"{label} {index + 1}")
            with jobcontrol.group(f"item-{index}"):
                jobcontrol.progress(1, 1)
    log.debug("debug line")
    log.info("made %d %s", count, label)
    log.warning("a warning")
    log.error("an error")
    logging.getLogger("other.logger").critical("critical from another logger")
    print("printed to stdout")
    return {"count": count, "label": label, "build": jobcontrol.build_id()}


def consume(produced):
    log.info("consumed %s", produced["label"])
    return produced["count"] * 2


def nothing_to_do():
    jobcontrol.skip("nothing to do today")


def fail_deep(depth):
    big_local = "x" * 5000
    if depth == 0:
        raise ValueError(f"deep failure, {len(big_local)} bytes in hand")
    return fail_deep(depth - 1)


def fail_chained():
    try:
        try:
            {}["missing"]
        except KeyError as error:
            raise RuntimeError("lookup failed") from error
    except RuntimeError:
        raise ValueError("while reporting")


def logs_exception():
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    return "handled"


def not_json():
    return {1, 2, 3}


def exits():
    os._exit(3)


def segfault():
    ctypes.string_at(0)


def uses_venv_package():
    import six  # installed into the test's virtual environment

    return six.__version__


class Tasks:
    @staticmethod
    def nested(value):
        return value + 1


def accepts(**kwargs):
    return sorted(kwargs)


def cleanup(build):
    """A cleanup function: called with the deleted build's record; writes the job's marker file."""
    with open(build["config"]["job"]["kwargs"]["marker"], "w", encoding="utf-8") as marker:
        marker.write(str(build["id"]))


def _report(index):
    jobcontrol.progress(1, 1, group=f"worker-{index}")
    logging.getLogger("jobpkg.worker").info("worker %d done", index)
    return index


def forks():
    """Progress and logs from forked workers (multiprocessing): each has its own connection."""
    import multiprocessing

    jobcontrol.progress(0, 4, status="starting workers")  # the parent connects first
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return sum(pool.map(_report, range(4)))


def leaks_secret(password):
    """Carries a secret in the forms Python writes it: a local's repr, `%r`, an exception."""
    kept = [password]
    log.info("the password is %r", password)
    raise KeyError(password)


def retval_by_helper():
    """Sets the build's value with `jobctl retval` and returns None: the helper's value stays."""
    import subprocess

    subprocess.run(["jobctl", "retval", "from-helper"], check=True)


def huge_integer():
    return {"id": 2**64}


def too_large():
    return "x" * (300 << 10)


def oversized_log():
    """A record over the daemon's message limit fails alone; the connection goes on working."""
    try:
        log.info("Q" * (9 << 20))
    except Exception:
        pass
    log.info("small after big")
    jobcontrol.progress(1, 2)
    return "went on"


def imports_json():
    """Run in a working directory that holds a planted json.py: the real json is imported."""
    import json

    return json.dumps([1])
