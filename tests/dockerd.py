"""Real Docker daemons for tests: the system dockerd, extra dockerds with their own settings,
and a busybox image made locally (nothing is ever pulled)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

SYSTEM_HOST = "unix:///var/run/docker.sock"
BUSYBOX_IMAGE = "auditor-test/busybox:latest"
TEST_LABEL = "auditor-test"
# Several test runs may share the system dockerd: each removes only the containers it made.
RUN_LABEL = f"auditor-test-run={uuid.uuid4().hex[:12]}"
LABEL_ARGS = ("--label", f"{TEST_LABEL}=1", "--label", RUN_LABEL)
BUSYBOX_BIN = "/bin/busybox"
BUSYBOX_APPLETS = ("sh", "sleep", "cat", "ls", "ps", "env", "true", "echo")


def docker_cli(host: str, *args: str, input_bytes: bytes | None = None, timeout: float = 60) -> str:
    """Run the docker CLI against `host`; raise with its stderr on failure."""
    done = subprocess.run(["docker", "-H", host, *args], input=input_bytes, capture_output=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode(errors="replace").strip()


def answers(host: str, timeout: float = 2.0) -> bool:
    """True when a dockerd answers on `host`."""
    try:
        docker_cli(host, "version", "--format", "{{.Server.Version}}", timeout=timeout)
        return True
    except (RuntimeError, subprocess.TimeoutExpired, OSError):
        return False


def busybox_tar() -> bytes:
    """A rootfs tarball: the static busybox plus applet symlinks in /bin."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX_BIN, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buf.getvalue()


def import_busybox(host: str, tag: str = BUSYBOX_IMAGE, changes: Sequence[str] = ()) -> str:
    """`docker import` the busybox rootfs as `tag` (with Dockerfile `changes`); return its id."""
    args = ["import"]
    for change in changes:
        args += ["--change", change]
    return docker_cli(host, *args, "-", tag, input_bytes=busybox_tar())


def ensure_busybox(host: str) -> str:
    """The busybox test image, imported if absent."""
    try:
        return docker_cli(host, "image", "inspect", "--format", "{{.Id}}", BUSYBOX_IMAGE)
    except RuntimeError:
        return import_busybox(host)


def remove_test_containers(host: str) -> None:
    """Remove every container this test run made (labels auditor-test=1 and its run id)."""
    ids = docker_cli(host, "ps", "-aq", "--filter", f"label={TEST_LABEL}=1",
                     "--filter", f"label={RUN_LABEL}").split()
    for cid in ids:
        # Already gone (or going) is fine: the goal is that none is left behind.
        subprocess.run(["docker", "-H", host, "rm", "-f", cid], capture_output=True, timeout=60, check=False)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _unmount_below(directory: str) -> None:
    # dockerd bind-mounts its data root; a killed one may leave that mount behind.
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [line.split()[4] for line in fh if line.split()[4].startswith(directory + "/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _stop(proc: subprocess.Popen[bytes], wait: float = 15.0) -> None:
    children = _children(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for child in children:  # its own containerd, should it outlive a killed dockerd
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


@contextlib.contextmanager
def second_dockerd(daemon_json: dict[str, Any], extra_args: Sequence[str] = (),
                   start_timeout: float = 30.0) -> Iterator[str]:
    """Run another dockerd with its own data/exec roots, socket and daemon.json; yield its host URL.

    It starts its own containerd (under its exec root) in its own network namespace, so it
    never disturbs the system dockerd.
    """
    # A short directory name: unix socket paths are limited to 108 bytes.
    base = tempfile.mkdtemp(prefix="adk-", dir="/tmp")
    config = os.path.join(base, "daemon.json")
    with open(config, "w", encoding="utf-8") as fh:
        json.dump(daemon_json, fh)
    host = f"unix://{base}/docker.sock"
    # Its own network namespace: a dockerd started with --bridge=none deletes any docker0 it
    # sees, which would break the system dockerd's default bridge (and its iptables rules).
    argv = ["unshare", "--net", "dockerd", "--data-root", f"{base}/data", "--exec-root", f"{base}/exec",
            "--pidfile", f"{base}/docker.pid", "-H", host, "--bridge=none",
            "--config-file", config, *extra_args]
    log = open(os.path.join(base, "dockerd.log"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_answers(proc, host, base, start_timeout)
        yield host
    finally:
        _stop(proc)
        log.close()
        _unmount_below(base)
        shutil.rmtree(base, ignore_errors=True)


def _wait_until_answers(proc: subprocess.Popen[bytes], host: str, base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if answers(host):
            return
        time.sleep(0.2)
    with open(os.path.join(base, "dockerd.log"), encoding="utf-8", errors="replace") as fh:
        tail = fh.read()[-2000:]
    raise RuntimeError(f"second dockerd at {host} did not start (exit {proc.poll()}):\n{tail}")
