"""Host facts for the Docker benchmark: files, audit rules, mounts, groups, sockets.

Everything is read under an audited root (`--root`, "/" for the live host). Paths in the
evidence are host paths (without the root prefix); symlinks are resolved *inside* the root so
a link such as `/etc/docker -> /etc/elsewhere` never reads the auditor's own files. Files are
opened by descriptor (auditor/collect/rootfs.py: openat2 with RESOLVE_IN_ROOT, else a walk of
O_NOFOLLOW descriptors), never by re-resolving a path, and mode and owner come from fstat of
the descriptor, so a node swapping a directory for a symlink meanwhile cannot escape the root.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterable
from typing import Any

from auditor.collect.rootfs import open_in_root

MAX_READ = 1 << 20  # never read more than 1 MiB from any file
MAX_LINKS = 40  # like the kernel's limit, so a symlink loop ends in an error
MAX_DEPTH = 32  # directory levels walk_files goes down
BINARY_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin")
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
_FILE_FIELDS = ("exists", "type", "mode", "uid", "gid", "owner", "group", "link_target")


class RootPathError(OSError):
    """A path could not be resolved inside the audited root (symlink loop)."""


# ---------------------------------------------------------------- paths inside the root

def host_path(path: str) -> str:
    """Normalise a host path: absolute, no '.', '..' or doubled slashes."""
    return os.path.normpath("/" + path.lstrip("/")).replace("//", "/")


def in_root(root: str, path: str) -> str:
    """The real filesystem path of host `path` under `root` (no symlink resolution)."""
    path = host_path(path)
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


def resolve_in_root(root: str, path: str) -> str:
    """Resolve every symlink in host `path` as if `root` were "/"; return the host path.

    Absolute link targets restart at the root and '..' stops at it, so the result never
    escapes the root. Resolution stops at the first missing component (the rest is kept).
    Raises RootPathError on a symlink loop and OSError when a directory cannot be read.
    """
    pending = [p for p in host_path(path).split("/") if p]
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        real = in_root(root, "/".join(done + [part]))
        try:
            st = os.lstat(real)
        except (FileNotFoundError, NotADirectoryError):
            return "/" + "/".join(done + [part] + pending)
        if not stat.S_ISLNK(st.st_mode):
            done.append(part)
            continue
        links += 1
        if links > MAX_LINKS:
            raise RootPathError(f"{host_path(path)}: too many levels of symbolic links")
        target = os.readlink(real)
        if target.startswith("/"):
            done = []
        pending = [p for p in target.split("/") if p] + pending
    return "/" + "/".join(done)


def open_under_root(root: str, path: str, flags: int) -> tuple[int, str | None]:
    """:func:`auditor.collect.rootfs.open_in_root`, a symlink loop as RootPathError."""
    try:
        return open_in_root(root, path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RootPathError(f"{host_path(path)}: too many levels of symbolic links") from None
        raise


def lexists(root: str, path: str) -> bool:
    """Whether host `path` exists under `root` (a final symlink counts, dangling or not), found
    by descriptor inside the root."""
    try:
        fd, _ = open_under_root(root, path, os.O_PATH | os.O_NOFOLLOW)
    except OSError:
        return False
    os.close(fd)
    return True


def is_dir(root: str, path: str) -> bool:
    """Whether host `path` under `root` is a directory (symlinks followed inside the root)."""
    try:
        fd, _ = open_under_root(root, path, os.O_PATH)
    except OSError:
        return False
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def list_dir(root: str, directory: str) -> list[str]:
    """The names in host `directory` under `root`, listed through a descriptor of it (none when
    it is absent or not a directory)."""
    try:
        fd, _ = open_under_root(root, directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return []
    try:
        return sorted(os.listdir(fd))
    except OSError:
        return []
    finally:
        os.close(fd)


def read_text(root: str, path: str, limit: int = MAX_READ) -> str:
    """Read a regular file under `root` (symlinks resolved inside it), at most `limit` bytes.

    Opened by descriptor inside the root (never by a path resolved earlier); O_NONBLOCK plus the
    fstat check mean a FIFO or device where a file was expected is refused instead of hanging
    the audit. Raises FileNotFoundError / OSError.
    """
    fd, _resolved = open_under_root(root, path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{host_path(path)}: not a regular file ({file_type(st.st_mode)})")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit)
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


def read_optional(root: str, path: str) -> str | None:
    """read_text, or None when the file is absent or unreadable (for optional facts)."""
    try:
        return read_text(root, path)
    except OSError:
        return None


def file_type(mode: int) -> str:
    """The evidence name of a file type from st_mode."""
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "char"),
                       (stat.S_ISBLK, "block")):
        if test(mode):
            return name
    return "unknown"


def proc_dir(root: str) -> str:
    """The /proc to scan: <root>/proc when the audited root carries a live one, else /proc."""
    if root not in ("", "/"):
        candidate = os.path.join(root, "proc")
        try:
            if any(name.isdigit() for name in os.listdir(candidate)):
                return candidate
        except OSError:
            pass
    return "/proc"


# ---------------------------------------------------------------- users and groups

def _colon_file(root: str, path: str) -> list[list[str]]:
    text = read_optional(root, path) or ""
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


class Accounts:
    """User and group names from the audited root's /etc/passwd and /etc/group (not NSS)."""

    def __init__(self, root: str) -> None:
        self.users: dict[int, str] = {}
        self.primary_gid: dict[str, int] = {}
        for fields in _colon_file(root, "/etc/passwd"):
            if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
                self.users.setdefault(int(fields[2]), fields[0])
                self.primary_gid[fields[0]] = int(fields[3])
        self.groups: dict[int, str] = {}
        self.group_entries: dict[str, tuple[int, list[str]]] = {}
        for fields in _colon_file(root, "/etc/group"):
            if len(fields) >= 3 and fields[2].isdigit():
                gid = int(fields[2])
                self.groups.setdefault(gid, fields[0])
                members = [m for m in (fields[3].split(",") if len(fields) > 3 else []) if m]
                self.group_entries.setdefault(fields[0], (gid, members))

    def group_info(self, name: str) -> dict[str, Any]:
        """{"exists", "gid", "members"}: listed members plus users whose primary group it is."""
        if name not in self.group_entries:
            return {"exists": False, "gid": None, "members": []}
        gid, members = self.group_entries[name]
        primary = [user for user, g in self.primary_gid.items() if g == gid]
        return {"exists": True, "gid": gid, "members": sorted(set(members) | set(primary))}


# ---------------------------------------------------------------- host.file items

def file_item(root: str, path: str, role: str, accounts: Accounts) -> dict[str, Any]:
    """One `host.file` item: type, mode and owner of `path` (symlinks followed inside root)."""
    path = host_path(path)
    item: dict[str, Any] = {"subject": {"type": "file", "name": path, "path": path}, "role": role,
                            "path": path, "exists": False, "type": None, "mode": None, "uid": None,
                            "gid": None, "owner": None, "group": None, "link_target": None}
    try:
        fd, resolved = open_under_root(root, path, os.O_PATH)
    except (FileNotFoundError, NotADirectoryError):
        # A dangling symlink: the link exists but what it names does not.
        try:
            fd, _ = open_under_root(root, path, os.O_PATH | os.O_NOFOLLOW)
        except OSError:
            return item
        try:
            dangling = stat.S_ISLNK(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        if dangling:
            item["type"] = "symlink"
            try:
                item["link_target"] = resolve_in_root(root, path)  # the name it gives; nothing is read there
            except OSError:
                pass
        return item
    except OSError as exc:
        reason = f"{path}: {exc.strerror or exc}"
        item["exists"] = None
        item["errors"] = {name: reason for name in _FILE_FIELDS}
        return item
    try:
        st = os.fstat(fd)  # mode and owner of what was opened, not of a path looked up again
    finally:
        os.close(fd)
    if resolved is None:  # no /proc to name the descriptor: the name as resolved by path (a label)
        try:
            resolved = resolve_in_root(root, path)
        except OSError:
            resolved = path
    if resolved != path:
        item["link_target"] = resolved
    item.update(exists=True, type=file_type(st.st_mode), mode=f"{stat.S_IMODE(st.st_mode):04o}",
                uid=st.st_uid, gid=st.st_gid, owner=accounts.users.get(st.st_uid),
                group=accounts.groups.get(st.st_gid))
    return item


def walk_files(root: str, directory: str) -> list[str]:
    """Host paths of every non-directory entry below `directory` (no symlinked dirs followed)."""
    try:
        fd, _resolved = open_under_root(root, directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return []
    found: list[str] = []
    _walk_fd(root, fd, host_path(directory), found, 0)
    return sorted(found)


def _walk_fd(root: str, dir_fd: int, directory: str, found: list[str], depth: int) -> None:
    """Below an open directory: subdirectories opened relative to it with O_NOFOLLOW (a name
    swapped for a symlink meanwhile fails instead of leading out); a symlink is listed as a file
    unless it names a directory inside the root (it is not followed). Closes `dir_fd`."""
    try:
        try:
            entries = list(os.scandir(dir_fd))
        except OSError:
            return
        for entry in entries:
            name = entry.name
            try:
                if entry.is_symlink():
                    if not is_dir(root, f"{directory}/{name}"):
                        found.append(host_path(f"{directory}/{name}"))
                    continue
                if not entry.is_dir(follow_symlinks=False):
                    found.append(host_path(f"{directory}/{name}"))
                    continue
            except OSError:
                continue
            if depth >= MAX_DEPTH:
                continue
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            except OSError:
                continue
            _walk_fd(root, sub, f"{directory}/{name}", found, depth + 1)
    finally:
        os.close(dir_fd)


def find_unit(root: str, name: str) -> str | None:
    """The systemd unit file that wins for `name`, by systemd's search precedence."""
    for directory in UNIT_DIRS:
        candidate = f"{directory}/{name}"
        if lexists(root, candidate):
            return candidate
    return None


def find_binary(root: str, name: str, exe: str | None = None) -> str:
    """Where `name` is installed: the running process's exe if known, else the first of
    /usr/bin, /usr/sbin, /usr/local/bin that has it (else /usr/bin/NAME, reported missing)."""
    if exe:
        return exe
    for directory in BINARY_DIRS:
        candidate = f"{directory}/{name}"
        if lexists(root, candidate):
            return candidate
    return f"{BINARY_DIRS[0]}/{name}"


def unit_listen_paths(root: str, unit_path: str | None) -> list[str]:
    """Unix socket paths from ListenStream= lines of a socket unit (for `-H fd://`)."""
    if not unit_path:
        return []
    text = read_optional(root, unit_path) or ""
    paths = []
    for line in text.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "ListenStream" and value.strip().startswith("/"):
            paths.append(value.strip())
    return paths


# ---------------------------------------------------------------- audit rules

def _rule_from_tokens(tokens: list[str], text: str) -> dict[str, Any] | None:
    """Turn one auditctl rule (as tokens) into {path, perms, key, kind, text}, or None."""
    path = perms = key = None
    kind = None
    i = 0
    while i < len(tokens):
        tok, nxt = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "-w":
            path, kind, i = nxt, "watch", i + 2
        elif tok == "-p":
            perms, i = nxt, i + 2
        elif tok == "-k":
            key, i = nxt, i + 2
        elif tok == "-F":
            field, _, value = nxt.partition("=")
            if field in ("path", "dir"):
                path, kind = value, "syscall"
            elif field == "perm":
                perms = value
            elif field in ("key", "k"):
                key = value
            i += 2
        else:
            i += 1
    if not path or not kind:
        return None
    return {"path": host_path(path), "perms": perms or "rwxa", "key": key, "kind": kind, "text": text}


def parse_audit_rules(text: str) -> list[dict[str, Any]]:
    """Parse auditctl rules (`-w PATH -p PERMS -k KEY`, `-a ... -F path=|dir= -F perm=`)."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        rule = _rule_from_tokens(tokens, line)
        if rule:
            rules.append(rule)
    return rules


def load_audit_rules(root: str) -> tuple[list[dict[str, Any]], str]:
    """The audit rules in force and where they came from.

    The kernel's list (`auditctl -l`) is the truth, but only for the live host; for another
    root, or when auditctl is missing or fails, the rule files are read instead.
    """
    if root in ("", "/") and shutil.which("auditctl"):
        try:
            done = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, timeout=5, check=False)
            if done.returncode == 0:
                return parse_audit_rules(done.stdout), "auditctl -l"
        except (OSError, subprocess.SubprocessError):
            pass
    files = ["/etc/audit/audit.rules"] + [f"/etc/audit/rules.d/{name}" for name in list_dir(root, "/etc/audit/rules.d")
                                          if name.endswith(".rules") and not name.startswith(".")]
    rules: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in files:
        for rule in parse_audit_rules(read_optional(root, path) or ""):
            # audit.rules is usually generated from rules.d: count each rule once.
            if rule["text"] not in seen:
                seen.add(rule["text"])
                rules.append(rule)
    return rules, "/etc/audit/audit.rules, /etc/audit/rules.d/*.rules"


def run_alias(path: str) -> str:
    """`path` with a leading /var/run spelled /run."""
    # /var/run is a symlink to /run on every current distribution: match either spelling.
    return "/run" + path[len("/var/run"):] if path == "/var/run" or path.startswith("/var/run/") else path


def rules_covering(path: str, rules: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules that watch `path` itself or a directory above it."""
    target = run_alias(host_path(path))
    out = []
    for rule in rules:
        watched = run_alias(rule["path"])
        if target == watched or target.startswith(watched.rstrip("/") + "/"):
            out.append(rule)
    return out


def audit_item(root: str, path: str, role: str, rules: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """One `host.audit_path` item."""
    path = host_path(path)
    return {"subject": {"type": "path", "name": path}, "role": role, "path": path,
            "exists": lexists(root, path), "rules": rules_covering(path, rules),
            "rules_source": source}


# ---------------------------------------------------------------- host.info

def _unescape_mount(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def read_mounts(root: str) -> list[tuple[str, str]]:
    """(mount point, major:minor) from <root>/proc/1/mountinfo, else /proc/self/mountinfo."""
    text = None
    for base, path in ((root, "/proc/1/mountinfo"), ("/", "/proc/self/mountinfo")):
        try:
            # Hosts with many containers have long mount tables: allow more than MAX_READ.
            text = read_text(base, path, limit=16 * MAX_READ)
            break
        except OSError:
            continue
    mounts = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 5:
            mounts.append((_unescape_mount(fields[4]), fields[2]))
    return mounts


def docker_root_mount(root: str, docker_root: str) -> dict[str, Any]:
    """Which mount holds DockerRootDir, and whether it is separate from the mount of "/"."""
    mounts = read_mounts(root)
    target = host_path(docker_root)

    def mount_of(path: str) -> tuple[str, str] | None:
        best = None
        for point, device in mounts:  # later entries over-mount earlier ones
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and (best is None or len(point) >= len(best[0])):
                best = (point, device)
        return best

    found, top = mount_of(target), mount_of("/")
    return {"path": target, "mount_point": found[0] if found else None,
            "device": found[1] if found else None, "root_device": top[1] if top else None,
            "separate": bool(found and top and found[0] != "/" and found[1] != top[1])}


def _decode_address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # IPv6 is printed as four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listening_tcp(proc: str) -> list[dict[str, Any]]:
    """Listening TCP sockets from <proc>/net/tcp and tcp6 (state 0A is LISTEN)."""
    found: set[tuple[str, str, int]] = set()
    for proto in ("tcp", "tcp6"):
        text = read_optional("/", f"{proc}/net/{proto}") or ""
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":
                continue
            addr, _, port = fields[1].partition(":")
            try:
                found.add((proto, _decode_address(addr), int(port, 16)))
            except ValueError:
                continue
    return [{"proto": p, "address": a, "port": n} for p, a, n in sorted(found)]


def etc_environment_value(root: str, name: str) -> str | None:
    """The value of `name` in <root>/etc/environment (KEY=VALUE lines, quotes removed)."""
    value = None
    for line in (read_optional(root, "/etc/environment") or "").splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].strip()
        key, sep, val = line.partition("=")
        if sep and key.strip() == name:
            value = val.strip().strip("'\"")
    return value


def hostname(root: str) -> str:
    """The audited host's name: /etc/hostname under another root, else this host's."""
    if root not in ("", "/"):
        text = (read_optional(root, "/etc/hostname") or "").strip()
        if text:
            return text.splitlines()[0]
    return socket.gethostname()


def host_info_item(root: str, docker_root: str, accounts: Accounts, proc: str) -> dict[str, Any]:
    """The `host.info` item."""
    name = hostname(root)
    return {"subject": {"type": "host", "name": name},
            "docker_root": docker_root_mount(root, docker_root),
            "docker_group": accounts.group_info("docker"),
            "listening": listening_tcp(proc),
            "content_trust": {"env": os.environ.get("DOCKER_CONTENT_TRUST"),
                              "etc_environment": etc_environment_value(root, "DOCKER_CONTENT_TRUST")}}
