"""Faults: a Docker socket that accepts and never answers, a daemon that stops mid-collection,
an API server that answers 500 or times out mid-pagination, a full output disk, and Ctrl-C
during collection. Each ends in bounded time with a clear message and the documented exit code;
no partial file is left behind; what was gathered before Ctrl-C is saved, marked incomplete."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import nodetree
import pytest
from fuzz.hostile import ROOT, run_cli, tally
from k8s_replay import ReplayServer, write_kubeconfig

DEMO = os.path.join(ROOT, "auditor", "data", "demo-evidence.json")


class HungServer:
    """Accepts connections (unix socket or loopback TCP) and never answers."""

    def __init__(self, path: str | None = None) -> None:
        family = socket.AF_UNIX if path else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(path or ("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = path or self.sock.getsockname()
        self.accepted: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@contextlib.contextmanager
def hung(path: str | None = None) -> Iterator[HungServer]:
    server = HungServer(path)
    try:
        yield server
    finally:
        server.close()



def _interruptible() -> None:
    """Ctrl-C reaches the run even when the tests themselves run as a background job (a shell
    starts those with SIGINT ignored, and a Python started so ignores it too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def test_docker_socket_that_never_answers_costs_the_timeout_only(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with hung(str(tmp_path / "hung.sock")):
        run = run_cli(["collect", "docker", "--docker-host", f"unix://{tmp_path}/hung.sock", "--timeout", "1",
                       "--root", str(root), "-o", str(tmp_path / "ev.json")], timeout=60)
    tally("faults")
    assert run.code == 3 and run.seconds < 15, run.stderr
    assert "no answer within 1s" in run.stderr and "Traceback" not in run.stderr
    doc = json.loads((tmp_path / "ev.json").read_text())
    assert doc["metadata"]["complete"] is False and "docker.container" in doc["metadata"]["target_errors"]


class _StoppingDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A Docker API that answers the version, info and the lists, then dies: every later request
    gets its connection closed without an answer (as when dockerd stops mid-collection)."""

    daemon_threads = True
    dead = False


class _DockerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        path = "/" + path.split("/", 2)[2] if path.startswith("/v1.") else path
        answers = {"/version": {"ApiVersion": "1.41", "Version": "20.10.0", "MinAPIVersion": "1.12"},
                   "/info": {"ID": "x", "DockerRootDir": "/var/lib/docker", "Swarm": {}},
                   "/containers/json": [{"Id": "a" * 64, "Names": ["/web"], "State": "running"},
                                        {"Id": "b" * 64, "Names": ["/db"], "State": "running"}],
                   "/images/json": [], "/networks": [], "/plugins": []}
        if self.server.dead or path not in answers:  # type: ignore[attr-defined]
            self.server.dead = True  # type: ignore[attr-defined]
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = json.dumps(answers[path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_daemon_that_stops_mid_collection_gives_error_verdicts(tmp_path):
    sock = str(tmp_path / "d.sock")
    server = _StoppingDaemon(sock, _DockerHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    root = tmp_path / "root"
    root.mkdir()
    try:
        run = run_cli(["audit", "--target", "docker", "--docker-host", f"unix://{sock}", "--timeout", "2",
                       "--root", str(root), "--no-html", "-o", str(tmp_path / "out"), "--format", "json"], timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    tally("faults")
    assert run.code in (0, 1, 3) and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.seconds < 30
    results = json.loads(run.stdout)
    [evidence] = glob.glob(str(tmp_path / "out" / "*.evidence.json"))
    containers = json.loads(open(evidence).read())["targets"]["docker.container"]
    assert {c["subject"]["name"] for c in containers} == {"web", "db"}
    assert all("inspect failed" in c["errors"]["inspect"] for c in containers)
    privileged = next(c for c in results["controls"] if c["pack"] == "cis-docker-1.6.0" and c["id"] == "5.5")
    assert privileged["status"] == "error"  # could not tell: never a pass


class _FailingReplay(ReplayServer):
    """The replay server answering 500 to the second page of the pod list."""

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:  # type: ignore[override]
        if handler.path.startswith("/api/v1/pods?") and "continue=" in handler.path:
            return self._send(handler, 500, self._status(500, "InternalError", "etcdserver: request timed out"))
        return super()._answer(handler)


@pytest.mark.parametrize("fault", ["http-500", "timeout"])
def test_api_fault_mid_pagination_keeps_the_pages_read_and_says_so(tmp_path, fault):
    server = _FailingReplay() if fault == "http-500" else ReplayServer()
    if fault == "timeout":
        server.delays[("/api/v1/pods", 1)] = 4.0
    try:
        kubeconfig = write_kubeconfig(str(tmp_path / "kc"), {"prod": (server, server.token)}, "prod")
        run = run_cli(["collect", "cluster", "--kubeconfig", kubeconfig, "--timeout", "1.5",
                       "-o", str(tmp_path / "ev.json")], env={"HOME": str(tmp_path)}, timeout=60)
    finally:
        server.stop()
    tally("faults")
    assert run.code == 3 and "Traceback" not in run.stderr, run.stderr
    assert run.seconds < 20
    doc = json.loads((tmp_path / "ev.json").read_text())
    reason = doc["metadata"]["target_errors"]["k8s.pod"]
    assert ("HTTP 500" in reason if fault == "http-500" else "timed out" in reason) and "after 1 pages" in reason
    assert doc["targets"]["k8s.pod"] and doc["metadata"]["complete"] is False


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (root only); unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _complete_or_absent(folder) -> None:  # type: ignore[no-untyped-def]
    names = os.listdir(folder)
    assert not [n for n in names if n.startswith(".tmp-")], names  # no temp file left
    for name in names:
        data = (folder / name).read_bytes()
        if name.endswith(".json"):
            json.loads(data)  # a file that is there is complete


def test_full_disk_is_one_line_and_leaves_no_partial_file(tiny_disk, tmp_path):
    run = run_cli(["evaluate", DEMO, "-o", str(tiny_disk), "--format", "table"])
    tally("faults")
    assert run.code == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("auditor:")]
    assert len(errors) == 1 and "No space left on device" in errors[0]
    _complete_or_absent(tiny_disk)
    results = tmp_path / "r"
    ok = run_cli(["evaluate", DEMO, "-o", str(results), "--format", "json"])
    [path] = glob.glob(str(results / "*.results.json"))
    run = run_cli(["report", path, "--format", "csv,junit,sarif,oscal,html", "-o", str(tiny_disk)])
    tally("faults")
    assert ok.code in (0, 1) and run.code == 2 and "No space left on device" in run.stderr, run.stderr[-2000:]
    _complete_or_absent(tiny_disk)
    with open(tiny_disk / "filler", "wb") as fh:  # leave a few KiB: the evidence cannot fit
        with contextlib.suppress(OSError):
            fh.write(b"\0" * (60 << 10))
    run = run_cli(["collect", "manifests", os.path.join(ROOT, "tests", "fixtures", "manifests"),
                   "-o", str(tiny_disk / "ev.json")])
    tally("faults")
    assert run.code == 2 and "No space left on device" in run.stderr and "Traceback" not in run.stderr
    _complete_or_absent(tiny_disk)
    assert not (tiny_disk / "ev.json").exists()


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "auditor", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "AUDITOR_NO_PDF": "1", "PYTHONPATH": ROOT, **(env or {})}, cwd=ROOT,
                            preexec_fn=_interruptible)


def _interrupt_when(proc: subprocess.Popen[bytes], ready, timeout: float = 20) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    return proc.returncode, err.decode("utf-8", "replace")


def test_ctrl_c_during_collection_saves_what_was_gathered(tmp_path):
    root = str(tmp_path / "root")
    nodetree.kubeadm_tree(root)
    with hung() as api:
        host, port = api.address
        kubeconfig = tmp_path / "kc"
        kubeconfig.write_text(f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: "
                              f"'https://{host}:{port}', insecure-skip-tls-verify: true}}}}]\nusers: [{{name: u, "
                              "user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                              "current-context: x\n")
        out = tmp_path / "out"
        proc = _start(["audit", "--target", "node,cluster", "--root", root, "--kubeconfig", str(kubeconfig),
                       "--timeout", "30", "-o", str(out)])
        code, err = _interrupt_when(proc, lambda: bool(api.accepted))  # node done, cluster hanging
    tally("faults")
    assert code == 130 and "Traceback" not in err, err
    assert "interrupted (Ctrl-C) while collecting cluster" in err
    [evidence] = glob.glob(str(out / "*.evidence.json"))
    assert not glob.glob(str(out / "*.results.json"))  # nothing evaluated from a partial bundle
    doc = json.loads(open(evidence).read())
    meta = doc["metadata"]
    assert meta["complete"] is False and meta["incomplete_reason"] == "interrupted (Ctrl-C) while collecting cluster"
    assert doc["targets"]["node.process"]  # the node source had finished: kept
    assert "k8s.pod" in meta["target_errors"] and "node.process" not in meta["target_errors"]
    # The saved bundle is a valid one: evaluating it judges the cluster controls as errors.
    run = run_cli(["evaluate", evidence, "-o", str(tmp_path / "eval"), "--format", "json"])
    assert run.code == 3, run.stderr[-2000:]


def test_ctrl_c_during_collect_writes_an_incomplete_bundle(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    sock = str(tmp_path / "hung.sock")
    with hung(sock) as daemon:
        proc = _start(["collect", "docker", "--docker-host", f"unix://{sock}", "--timeout", "30", "--root", str(root),
                       "-o", str(tmp_path / "ev.json")])
        code, err = _interrupt_when(proc, lambda: bool(daemon.accepted))
    tally("faults")
    assert code == 130 and "Traceback" not in err, err
    doc = json.loads((tmp_path / "ev.json").read_text())
    assert doc["metadata"]["complete"] is False and "docker.daemon" in doc["metadata"]["target_errors"]
