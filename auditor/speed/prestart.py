"""A helper process started at the beginning of a run, that imports a slow library while the run
collects and judges, then does one job on the second core while this process goes on.

What it buys: the PDF of the default run. WeasyPrint takes about half a second to a second and a
half to import, and laying out the PDF takes seconds; with a helper forked before collection
(while this process is small) the import is done by the time the results exist, and the layout
runs beside the HTML report, the evidence file and the terminal summary instead of after them.
Shown by tests/perf/bench_default_run.py (default run against core run).

The job is named by module and function (``module.function(*args)``), its arguments and result
are plain data sent with :mod:`marshal`. If anything goes wrong (no second core, no fork, the
helper dies, the job raises), :meth:`Helper.result` raises :class:`HelperFailed` and the caller
does the job itself: a helper can cost time, never results or error messages.
"""

from __future__ import annotations

import importlib
import marshal
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from auditor.speed.second_core import fork_server, small_enough, usable_cpus


class HelperFailed(Exception):
    """The helper could not do its job; the caller does it in process."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _send(fd: int, data: bytes) -> None:
    """Write a job and close the pipe (a helper that died only makes the write fail: the caller
    learns it from the result)."""
    try:
        _write_all(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class Helper:
    """A forked process that imports ``modules`` (and calls ``warm``, a "module.function" name, if
    given) at once, then waits for one job. :attr:`started` is False when no helper could be
    started (one core, no fork, or this process already large: its copy-on-write pages would
    double the memory); :meth:`submit` then refuses and the caller does the job itself."""

    def __init__(self, modules: Sequence[str], warm: str | None = None, twin: bool = False) -> None:
        self.pid: int | None = None
        self.job_fd: int | None = None
        self.result_fd: int | None = None
        self.submitted = False
        # set in a forked run (auditor.speed.handover): what it calls with the PDF job instead of waiting
        self.handover: Callable[[dict[str, Any]], None] | None = None
        self._writer: threading.Thread | None = None
        if not hasattr(os, "fork") or usable_cpus() < 2 or not small_enough():
            return
        forked = fork_server(lambda job_r, res_w: _serve(job_r, res_w, modules, warm, twin))
        if forked is not None:
            self.pid, self.result_fd, self.job_fd = forked

    @property
    def started(self) -> bool:
        return self.pid is not None

    def submit(self, function: str, *args: Any) -> bool:
        """Send the job ``function(*args)`` ("package.module.function"); False when there is no helper.

        Returns at once: a job larger than the pipe holds is written by a thread while the helper
        is still warming up, so this process goes on with its own work meanwhile."""
        if self.job_fd is None or self.submitted:
            return False
        try:
            job = marshal.dumps((function, args))
        except ValueError:
            self.close()
            return False
        fd, self.job_fd = self.job_fd, None
        self.submitted = True
        self._writer = threading.Thread(target=_send, args=(fd, job), name="auditor-helper-job", daemon=True)
        self._writer.start()
        return True

    def result(self) -> Any:
        """The job's return value, waiting for it; :class:`HelperFailed` when it could not be done."""
        if not self.submitted or self.result_fd is None:
            raise HelperFailed("no job was submitted")
        try:
            data = _read_all(self.result_fd)
        finally:
            os.close(self.result_fd)
            self.result_fd = None
            self._reap()
            self._join_writer()
        try:
            ok, value = marshal.loads(data)
        except (ValueError, EOFError, TypeError):
            raise HelperFailed("the helper stopped before answering") from None
        if not ok:
            raise HelperFailed(str(value))
        return value

    # A run forked from the process that started the helper (auditor.speed.handover) submits the
    # job; that process waits for its answer.

    def leave_job_to_child(self) -> None:
        """In the starting process, after forking the run: only the run sends the job (the
        helper reads it to its end, so this process's copy of the pipe is closed)."""
        if self.job_fd is not None:
            os.close(self.job_fd)
            self.job_fd = None

    def take_over_job(self) -> None:
        """In the starting process, once the run handed its job over: :meth:`result` waits for it."""
        self.submitted = True

    def disown(self) -> None:
        """In the forked run, when it ends: the job (if any) fully written, this process's pipe
        ends closed; the helper itself is left running, for the starting process to wait for or stop."""
        self._join_writer()
        for name in ("job_fd", "result_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        self.pid = None

    def _join_writer(self) -> None:
        """Wait for the job's writer thread: it ends once the helper has read the job, or died
        (its end of the pipe closed: the write fails and the thread closes the pipe)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.join()

    def _reap(self) -> None:
        if self.pid is not None:
            pid, self.pid = self.pid, None
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def close(self) -> None:
        """Stop the helper (whatever it is doing) and release its pipes; safe to call twice."""
        for name in ("job_fd", "result_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self._reap()
        self._join_writer()

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _call(name: str) -> Callable[..., Any]:
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def _serve(job_fd: int, result_fd: int, modules: Sequence[str], warm: str | None, twin: bool = False) -> int:
    """The helper's life: import, warm up, fork its warm twin (``twin``: auditor.speed.twin, for
    jobs that split their work), wait for the job, answer it."""
    for module in modules:
        importlib.import_module(module)
    if warm:
        _call(warm)()
    if twin:
        from auditor.speed.twin import fork_twin

        fork_twin(close_in_child=(job_fd, result_fd))
    try:
        data = _read_all(job_fd)
        if not data:  # the parent went on without a job (or ended)
            return 0
        try:
            function, args = marshal.loads(data)
            answer = (True, _call(function)(*args))
        except Exception as exc:  # noqa: BLE001 (sent to the parent, which redoes the job itself)
            answer = (False, f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        if twin:
            from auditor.speed.twin import close_twin

            close_twin()  # its part done or never given: it ends before this helper answers
    _write_all(result_fd, marshal.dumps(answer))
    return 0
