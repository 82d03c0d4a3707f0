"""Base images for building the auditor's image here, where nothing can be pulled: a root
filesystem holding this machine's Python, the auditor's runtime dependencies and the shared
libraries they load, turned into an image by `docker import`.

Two images: a build image (with pip and busybox's /bin/sh, for the Dockerfile's RUN) and a
runtime image (Python only: no shell), standing in for python:3.11-slim-bookworm and
gcr.io/distroless/python3-debian12:nonroot.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from importlib import metadata

_PYPROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")
# the PDF stack stays out: the image runs with AUDITOR_NO_PDF (see the Dockerfile)
_NOT_IN_IMAGE = {"weasyprint"}


def runtime_requirements() -> tuple[str, ...]:
    """The project's declared dependencies (pyproject.toml), so that a new one (google-re2's
    compiled module, say) reaches the image without a second list to keep in step."""
    import tomllib

    with open(_PYPROJECT, "rb") as fh:
        declared = tomllib.load(fh)["project"]["dependencies"]
    return tuple(n for n in (_name(r) for r in declared) if n not in _NOT_IN_IMAGE)


BUILD_EXTRA = ("pip",)
_SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages", "__pycache__",
                "config-3.11-x86_64-linux-gnu"}


def _name(req: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0].lower().replace("_", "-")


def distributions(roots: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions `roots` need (their requirements, extras and markers left out
    unless the marker holds here)."""
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = _name(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _libraries(files: list[str]) -> set[str]:
    """The shared libraries (real paths and the names they are loaded by) the ELF files need."""
    out: set[str] = set()
    for chunk in range(0, len(files), 200):
        result = subprocess.run(["ldd", *files[chunk:chunk + 200]], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            match = re.search(r"(/\S+) \(0x", line)
            if match and os.path.exists(match.group(1)):
                path = match.group(1)
                out.add(path)
                out.add(os.path.realpath(path))
    return out


def _canon(path: str) -> str:
    """The path with its directories resolved (the file itself may stay a symlink)."""
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def _add(tar: tarfile.TarFile, path: str, arcname: str | None = None) -> None:
    arc = (arcname or path).lstrip("/")
    info = tar.gettarinfo(path, arc)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if info.isdir():
        info.mode = 0o755
    if info.isreg():
        with open(path, "rb") as fh:
            tar.addfile(info, fh)
    else:
        tar.addfile(info)


def _dirs(tar: tarfile.TarFile, path: str, done: set[str]) -> None:
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        if d not in done:
            done.add(d)
            info = tarfile.TarInfo(d.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, (0o1777 if d == "/tmp" else 0o755)
            tar.addfile(info)


def build_rootfs(out: str, build: bool) -> str:
    """Write the root filesystem tar to `out`: the interpreter, its standard library, the
    dependencies' files and the libraries they link; with `build`, pip and /bin/sh too."""
    prefix = sys.base_prefix
    stdlib = sysconfig.get_paths()["stdlib"]
    purelib = sysconfig.get_paths()["purelib"]
    files: list[str] = [os.path.realpath(sys.executable)]
    for dirpath, dirnames, filenames in os.walk(stdlib):
        rel = os.path.relpath(dirpath, stdlib)
        if rel == "." :
            dirnames[:] = [d for d in dirnames if d not in _SKIP_STDLIB]
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and d not in ("test", "tests")]
        files += [os.path.join(dirpath, f) for f in filenames]
    for dist in distributions(runtime_requirements() + (BUILD_EXTRA if build else ())):
        for f in dist.files or []:
            path = os.path.realpath(os.path.join(purelib, str(f)))
            if path.startswith(purelib) and os.path.isfile(path) and "__pycache__" not in path:
                files.append(path)
    libdir = sysconfig.get_config_var("LIBDIR") or os.path.join(prefix, "lib")
    elves = [f for f in files if f.endswith(".so") or ".so." in f or f == files[0]]
    libs = _libraries(elves) | {os.path.join(libdir, n) for n in os.listdir(libdir) if n.startswith("libpython")}
    done: set[str] = set()
    with tarfile.open(out, "w") as tar:
        # top-level directories that are symlinks here (merged /usr: /lib -> usr/lib) stay symlinks,
        # and every file goes in under its directory's real path, so library paths resolve alike
        for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
            if os.path.islink(top):
                link = tarfile.TarInfo(top.lstrip("/"))
                link.type, link.linkname = tarfile.SYMTYPE, os.readlink(top)
                tar.addfile(link)
                done.add(top)
        for path in sorted({_canon(p) for p in (*files, *libs)}):
            _dirs(tar, path, done)
            _add(tar, path)
        for d in ("/tmp", "/usr/local/bin", "/usr/bin", "/etc"):
            _dirs(tar, d + "/x", done)
        link = tarfile.TarInfo("usr/local/bin/python3")
        link.type, link.linkname = tarfile.SYMTYPE, files[0]
        tar.addfile(link)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n"
                                          "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
                           ("etc/group", "root:x:0:\nnonroot:x:65532:\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text), 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
        if build:
            bindir = "usr/bin" if os.path.islink("/bin") else "bin"
            _dirs(tar, f"/{bindir}/x", done)
            _add(tar, os.path.realpath(shutil.which("busybox") or "/bin/busybox"), f"/{bindir}/busybox")
            for applet in ("sh", "mkdir", "chown", "ls"):
                link = tarfile.TarInfo(f"{bindir}/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    return out


def import_image(client, tar_path: str, tag: str) -> str:  # type: ignore[no-untyped-def]
    """`docker import` of the tar as `tag` (PATH set, as the images it stands in for have)."""
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    subprocess.run(["docker", "import", "--change", f"ENV {path}", tar_path, tag], check=True,
                   capture_output=True)
    return tag
