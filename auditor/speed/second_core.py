"""A second core for the two heavy steps: reading manifest files and judging controls.

On a machine with two or more cores, a step splits its work in two, forks a child that does one
part and sends back the results through a pipe, and does the other part itself. The results are
plain data (dicts, lists, strings, numbers), sent with :mod:`marshal`. If anything goes wrong in
the child (it cannot be forked, dies, or sends something unreadable), :meth:`Child.receive`
returns None and the caller does that part itself: a fork can cost time, never results.

A child is forked only for work worth it (the callers' thresholds) and while this process is
small (MAX_FORK_RSS), since the child's copy-on-write pages grow as it touches shared objects:
peak memory figures stay those of one process.

What it buys: the 270-manifest audit takes 0.30 s on two cores and 0.41 s on one (`taskset -c 0`),
and a large dump is judged in about two thirds of the time; shown by tests/perf/bench_manifests.py
(run it with and without `taskset -c 0`).
"""

from __future__ import annotations

import marshal
import os
import signal
from collections.abc import Callable
from typing import Any

# The child's part of the work (see split_by_cost). Half: smaller shares, to make up for the
# child encoding its results and this process decoding them, measured no faster.
CHILD_SHARE = 0.5

# Above this resident size work stays in one process: a child touching the objects it judges
# makes its own copies of their pages (reference counts), so a fork can add up to the size of
# the evidence again. Below it, that is a few tens of megabytes at most.
MAX_FORK_RSS = 128 * 2**20


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under `taskset`), else the count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """True when a second process would run on another core and stay affordable in memory."""
    return hasattr(os, "fork") and usable_cpus() >= 2 and small_enough()


def small_enough() -> bool:
    """This process's resident size is at most MAX_FORK_RSS; True where it cannot be read (no
    /proc: size unknown, the work is bounded by the callers' thresholds)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            resident_pages = int(fh.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") <= MAX_FORK_RSS
    except (OSError, ValueError, IndexError):
        return True


def _die_with_parent(parent: int) -> None:
    """Linux: this (forked) process is killed when the one that forked it ends, however it ends (a
    helper killed by the run, a run killed by the user): no orphan goes on using a core or holding
    the run's standard output. Elsewhere nothing is done (the pipes' end stops it later)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request took hold
        os._exit(1)


def fork_server(serve: Callable[[int, int], int], close_in_child: tuple[int, ...] = ()) -> tuple[int, int, int] | None:
    """Fork a long-lived child that runs ``serve(read_fd, write_fd)`` (its ends of two pipes, from
    and to this process) and leaves with its return code, never returning into the caller's code
    nor running its cleanup (Ctrl-C is the parent's to handle: the child ignores SIGINT; the
    descriptors ``close_in_child`` are closed in the child). Returns (pid, read_fd, write_fd),
    this process's ends, or None when no child could be forked (pipes closed again)."""
    fds: list[int] = []
    parent = os.getpid()
    try:
        fds.extend(os.pipe())  # down: this process -> child
        fds.extend(os.pipe())  # up: child -> this process
        pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        return None
    down_r, down_w, up_r, up_w = fds
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _die_with_parent(parent)
            for fd in (down_w, up_r, *close_in_child):
                os.close(fd)
            code = serve(down_r, up_w)
        except BaseException:  # noqa: BLE001,S110 (the parent learns it from the pipe: EOF)
            pass
        finally:
            os._exit(code)
    os.close(down_r)
    os.close(up_w)
    return pid, up_r, down_w


class Child:
    """``work()`` run in a forked child; :meth:`receive` gives its result or None."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.pid: int | None = None
        self.fd: int | None = None
        try:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
        except OSError:
            return  # no child: receive() gives None and the caller does the work
        if pid == 0:  # the child: work, write, and leave without running any of the parent's cleanup
            code = 1
            try:
                os.close(read_fd)
                view = memoryview(marshal.dumps(work()))
                while view:
                    view = view[os.write(write_fd, view):]
                code = 0
            except BaseException:  # noqa: BLE001,S110 (the parent does this work itself)
                pass
            finally:
                os._exit(code)
        os.close(write_fd)
        self.pid, self.fd = pid, read_fd

    def receive(self) -> Any | None:
        """The child's result (waiting for it), or None when the child failed in any way."""
        if self.fd is None:
            return None
        chunks = []
        while True:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        if self._reap() != 0:
            return None
        try:
            return marshal.loads(b"".join(chunks))
        except (ValueError, EOFError, TypeError):
            return None

    def _reap(self) -> int | None:
        if self.pid is None:
            return None
        pid, self.pid = self.pid, None
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        """Release the pipe; a child not yet received from (an interrupted run) is stopped and reaped."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self._reap()


def split_by_cost(costs: list[int]) -> tuple[list[int], list[int]]:
    """Indexes for (this process, the child), order kept: the child gets CHILD_SHARE of the cost."""
    total = sum(costs)
    mine: list[int] = []
    child: list[int] = []
    held = 0
    for index, cost in enumerate(costs):
        if held < total * (1 - CHILD_SHARE):
            mine.append(index)
            held += cost
        else:
            child.append(index)
    return mine, child


def run_split(items: list[Any], costs: list[int], do: Callable[[Any], Any], min_cost: int,
              child_ok: Callable[[int], bool] = lambda _i: True) -> list[Any]:
    """``[do(item) for item in items]``, with about half of the cost done by a forked child when
    the total cost is at least ``min_cost`` and :func:`can_fork`. Items whose index fails
    ``child_ok`` (a pipe that only this process may read) stay here."""
    if sum(costs) < min_cost or len(items) < 2 or not can_fork():
        return [do(item) for item in items]
    mine, child = split_by_cost([c if child_ok(i) else 0 for i, c in enumerate(costs)])
    mine += [i for i in child if not child_ok(i)]
    child = [i for i in child if child_ok(i)]
    if not mine or not child:
        return [do(item) for item in items]
    results: dict[int, Any] = {}
    worker = Child(lambda: [do(items[i]) for i in child])
    try:
        for index in mine:
            results[index] = do(items[index])
        received = worker.receive()
    finally:
        worker.close()
    if not isinstance(received, list) or len(received) != len(child):
        received = [do(items[i]) for i in child]  # the child failed: do its part here
    results.update(zip(child, received, strict=True))
    return [results[i] for i in range(len(items))]
