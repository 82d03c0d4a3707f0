"""A twin of a warm helper: a copy of the PDF helper forked once it has imported WeasyPrint and
loaded its fonts, that lays out part of the PDF on the other core while the helper lays out
the rest (auditor.report.pdf_split).

The helper (auditor.speed.prestart) forks its twin right after warming up, so the twin starts
warm and shares the helper's memory pages until it writes to them. It waits for one job
(``module.function``, called as ``function(channel, *args)``) and talks with the helper through
a :class:`Channel`: length-prefixed frames both ways. Anything that goes wrong on either side
(the twin dies, raises, sends nothing for :data:`TIMEOUT` seconds) shows up as
:class:`TwinFailed` on the other side, whose caller then does the whole job itself: a twin can
cost time, never results.
"""

from __future__ import annotations

import importlib
import marshal
import os
import select
import signal
import struct
from typing import Any

from auditor.speed.second_core import fork_server, usable_cpus

# Longest silence between two frames before the other side is given up (a part of a PDF of a
# large cluster takes a few seconds).
TIMEOUT = 300.0
_HEADER = struct.Struct("!Q")


class TwinFailed(Exception):
    """The other side of a channel stopped, failed or fell silent."""


class Channel:
    """One end of a twin's two pipes: :meth:`send` and :meth:`recv` whole frames of bytes."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd: int | None = read_fd
        self.write_fd: int | None = write_fd

    def send(self, data: bytes) -> None:
        if self.write_fd is None:
            raise TwinFailed("the channel is closed")
        view = memoryview(_HEADER.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(self.write_fd, view):]
        except OSError as exc:
            raise TwinFailed(f"the other side stopped ({exc.strerror})") from None

    def _read(self, size: int, timeout: float) -> bytes:
        if self.read_fd is None:
            raise TwinFailed("the channel is closed")
        poller = select.poll()  # not select(): it refuses descriptors above 1023
        poller.register(self.read_fd, select.POLLIN)
        chunks, left = [], size
        while left:
            if not poller.poll(max(0, int(timeout * 1000))):
                raise TwinFailed(f"no answer within {timeout:.0f} s")
            chunk = os.read(self.read_fd, min(left, 1 << 22))
            if not chunk:
                raise TwinFailed("the other side stopped")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def recv(self, timeout: float | None = None) -> bytes:
        """The next frame; :class:`TwinFailed` if the other side ends or sends nothing for
        ``timeout`` seconds (:data:`TIMEOUT` by default) meanwhile."""
        wait = TIMEOUT if timeout is None else timeout
        (size,) = _HEADER.unpack(self._read(_HEADER.size, wait))
        return self._read(size, wait)

    def close(self) -> None:
        for name in ("read_fd", "write_fd"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                try:
                    os.close(fd)
                except OSError:
                    pass


class Twin:
    """A forked copy of this process waiting for one job; :attr:`started` is False when none could
    be forked (one usable core, no fork)."""

    def __init__(self, close_in_child: tuple[int, ...] = ()) -> None:
        self.pid: int | None = None
        self.channel: Channel | None = None
        self.busy = False
        if not hasattr(os, "fork") or usable_cpus() < 2:
            return
        forked = fork_server(lambda read_fd, write_fd: _serve(Channel(read_fd, write_fd)), close_in_child)
        if forked is not None:
            self.pid, self.channel = forked[0], Channel(forked[1], forked[2])

    @property
    def started(self) -> bool:
        return self.pid is not None and self.channel is not None

    def start(self, function: str, *args: Any) -> Channel | None:
        """Hand the twin its job ``function(channel, *args)``; the channel to talk with it, or None
        when there is no twin (or it already has a job)."""
        if not self.started or self.busy or self.channel is None:
            return None
        self.busy = True
        try:
            self.channel.send(marshal.dumps((function, args)))
        except (TwinFailed, ValueError):
            self.close()
            return None
        return self.channel

    def close(self) -> None:
        """Stop the twin (whatever it is doing); safe to call twice."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.pid is not None:
            pid, self.pid = self.pid, None
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _serve(channel: Channel) -> int:
    try:
        function, args = marshal.loads(channel.recv(timeout=24 * 3600.0))
    except TwinFailed:  # the helper ended without a job for its twin
        return 0
    module, _, name = function.rpartition(".")
    getattr(importlib.import_module(module), name)(channel, *args)
    return 0


_CURRENT: list[Twin] = []


def fork_twin(close_in_child: tuple[int, ...] = ()) -> Twin | None:
    """Fork this process's twin (once); it is then :func:`current`."""
    if not _CURRENT:
        twin = Twin(close_in_child)
        if not twin.started:
            return None
        _CURRENT.append(twin)
    return _CURRENT[0]


def current() -> Twin | None:
    """This process's idle twin, if it forked one."""
    if _CURRENT and _CURRENT[0].started and not _CURRENT[0].busy:
        return _CURRENT[0]
    return None


def close_twin() -> None:
    """Stop this process's twin, if it forked one (idle or not)."""
    while _CURRENT:
        _CURRENT.pop().close()
