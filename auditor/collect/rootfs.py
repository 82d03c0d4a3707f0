"""Files under an audited root (`--root`), opened by descriptor so a node that swaps a directory
for a symlink while it is read can never make auditor read outside the root.

Resolving a path and then opening it again by name leaves a window in which a component can be
replaced by a symlink to anywhere. Here the path is never resolved twice: ``openat2(2)`` with
``RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`` (Linux 5.6+, called through ctypes) resolves it
relative to a descriptor of the root, as if the root were "/" (absolute links restart at the
root, ".." stops there, /proc magic links are refused). Where the kernel lacks it (ENOSYS, or a
seccomp filter saying EPERM), the same resolution is walked component by component with
``O_PATH | O_NOFOLLOW`` descriptors, each opened relative to the one before, following symlinks
by hand. Either way mode and owner come from ``fstat`` of the descriptor that was opened.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_SYS_OPENAT2 = 437  # the same number on every architecture with the generic syscall table (x86_64, arm64)
MAX_LINKS = 40  # like the kernel's limit, so a symlink loop ends in an error


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_state: dict[str, bool] = {}  # "openat2": whether the kernel has it (found on first use)


def _libc_syscall() -> object | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_long
    return function


_SYSCALL: object | None = _libc_syscall()


def _openat2(dir_fd: int, path: str, flags: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    for _ in range(8):  # EAGAIN: a rename raced the resolution, and the kernel asks to try again
        fd = _SYSCALL(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd),  # type: ignore[operator]
                      ctypes.c_char_p(os.fsencode(path)), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            raise OSError(code, os.strerror(code), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def openat2_available() -> bool:
    """Whether this kernel resolves with openat2 (no: ENOSYS before 5.6, EPERM under some seccomp filters)."""
    if "openat2" not in _state:
        ok = False
        if _SYSCALL is not None:
            probe = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.close(_openat2(probe, ".", os.O_PATH))
                ok = True
            except OSError:
                ok = False
            finally:
                os.close(probe)
        _state["openat2"] = ok
    return _state["openat2"]


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def _walk_open(root_fd: int, path: str, flags: int) -> tuple[int, str]:
    """The component-by-component resolution (no openat2): (descriptor, host path resolved)."""
    pending = _components(path)
    stack = [os.dup(root_fd)]  # directory descriptors from the root down
    names: list[str] = []      # their names: the host path resolved so far
    links = 0
    try:
        while pending:
            part = pending.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    names.pop()
                continue
            fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            mode = os.fstat(fd).st_mode
            last = not pending
            if stat.S_ISLNK(mode) and not (last and flags & os.O_NOFOLLOW):
                os.close(fd)
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(part, dir_fd=stack[-1])
                if target.startswith("/"):  # restarts at the root, never at the real "/"
                    while len(stack) > 1:
                        os.close(stack.pop())
                    names.clear()
                pending = _components(target) + pending
                continue
            if last:
                if flags & os.O_PATH:
                    return fd, "/" + "/".join([*names, part])
                os.close(fd)
                # O_NOFOLLOW: if the name became a symlink since, this fails instead of following it
                opened = os.open(part, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
                return opened, "/" + "/".join([*names, part])
            if not stat.S_ISDIR(mode):
                os.close(fd)
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            stack.append(fd)
            names.append(part)
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=stack[-1]), "/" + "/".join(names)
    finally:
        for fd in stack:
            os.close(fd)


def _host_path_of(fd: int, root_real: str) -> str | None:
    """The host path (under the root) a descriptor names, from /proc/self/fd; None without /proc."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if root_real == "/":
        return real
    if real == root_real:
        return "/"
    if real.startswith(root_real + "/"):
        return real[len(root_real):]
    return None


def open_in_root(root: str, path: str, flags: int) -> tuple[int, str | None]:
    """A descriptor of host ``path`` under ``root`` (symlinks resolved inside the root) opened
    with ``flags`` (O_RDONLY | O_NONBLOCK for reading, O_PATH for mode and owner; O_NOFOLLOW to
    take a final symlink itself), and the host path it resolved to (None when that cannot be
    told). Raises OSError (FileNotFoundError, ELOOP for a symlink loop, ...)."""
    root_fd = os.open(root or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        relative = "/".join(_components(path)) or "."
        if openat2_available():
            try:
                fd = _openat2(root_fd, relative, flags)
            except OSError as exc:
                if exc.errno != errno.EAGAIN:  # renames kept racing it: the walk below is as safe
                    raise
            else:
                return fd, _host_path_of(fd, os.readlink(f"/proc/self/fd/{root_fd}"))
        return _walk_open(root_fd, relative, flags)
    finally:
        os.close(root_fd)


def force_walk(enabled: bool) -> None:
    """Tests: resolve by the component walk even where the kernel has openat2 (False: detect again)."""
    if enabled:
        _state["openat2"] = False
    else:
        _state.pop("openat2", None)
