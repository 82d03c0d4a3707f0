"""The run's last wait handed to the small process that started it.

A default run ends waiting for its PDF, which the prestarted helper (auditor.speed.prestart) and
its twin lay out; their memory peaks at the end of that layout. Meanwhile the run still holds the
evidence and the results it no longer needs (at 43k objects about 170 MB), and a Python process
cannot give that memory back (its heap stays fragmented). So the `auditor audit` command forks
the run at the start, right after the helper: the child collects, judges, writes the results,
HTML and evidence, hands the PDF to the helper, prints the summary and exits; its memory is
returned before the PDF's peak. The parent, which holds only its imports, waits for the child,
then for the PDF (made from the results file on disk if the helper fails), and ends with the
child's exit code.

Signals: Ctrl-C at a terminal reaches both; the child handles it as a run always did (the
evidence gathered so far is saved) and the parent waits. A SIGINT sent to the parent alone (by
``kill``) is passed on to the child. The child dies with the parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import marshal
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from auditor.speed.prestart import _read_all
from auditor.speed.second_core import _die_with_parent

# si_code of a signal sent by kill(): a SIGINT from a terminal (si_code SI_KERNEL) reached the
# child too, one from kill() reached this process only.
_SI_USER = 0
# blocked while the parent waits (from before the fork, so no exit is missed) and waited for
_WATCHED = {signal.SIGINT, signal.SIGCHLD}


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


class Handover:
    """The child's end: :meth:`send` gives the parent the job it waits for (plain data), once."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def send(self, job: dict[str, Any]) -> None:
        if self.fd is None:
            raise RuntimeError("the job was handed over already")
        fd, self.fd = self.fd, None
        data = memoryview(marshal.dumps(job))
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)


def run_in_child(body: Callable[[Handover], int], finish: Callable[[dict[str, Any]], int | None],
                 in_parent: Callable[[], None] | None = None) -> int | None:
    """Run ``body(handover)`` in a forked child and return its exit code, after ``finish(job)``
    for the job the child handed over (if any; a code ``finish`` returns replaces the child's).
    ``in_parent`` is called in this process right after the fork (to let go of what only the
    child may use, such as the helper's job pipe).
    None when no child could be forked: the caller runs the body itself. ``body`` handles its own
    errors (a raised exception ends the child with exit code 70)."""
    if not hasattr(os, "fork") or not hasattr(signal, "sigwaitinfo"):
        return None
    _flush()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return None
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return None
    if pid == 0:  # the run
        code = 70
        try:
            os.close(read_fd)
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            _die_with_parent(parent)
            code = int(body(Handover(write_fd)))
        except BaseException:  # noqa: BLE001 (the body reports its own errors; this one is a bug)
            import traceback

            traceback.print_exc()
        finally:
            _flush()
            os._exit(code)
    os.close(write_fd)
    try:
        if in_parent is not None:
            in_parent()
        status = _wait(pid)
        data = _read_all(read_fd)
    finally:
        os.close(read_fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal, as a shell reports it
        code = 128 - code
    if data:
        try:
            job = marshal.loads(data)
        except (ValueError, EOFError, TypeError):
            job = None
        if isinstance(job, dict):
            changed = finish(job)
            if changed is not None:
                code = changed
    return code


def _wait(pid: int) -> int:
    """Wait for the child (its exit status), passing on a SIGINT sent to this process alone."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        info = signal.sigwaitinfo(_WATCHED)
        if info.si_signo == signal.SIGINT and info.si_code == _SI_USER:
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass
