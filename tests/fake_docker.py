"""A fake Docker daemon on a unix socket, in the test process, that misbehaves on request.

It answers version, info and the lists of one running container (`web`), one image and one
network, and each object's inspect; `faults` maps a path (without the /vX.Y prefix) to what to
do instead:

- ``("status", code, body)``: that status with that JSON body (a Docker `{"message": ...}`);
- ``("json", value)``: 200 with that value (``{}``, a list where an object belongs, ...);
- ``("cut", value)``: 200 announcing the full length, sending half of the body, then closing;
- ``("trickle", value)``: 200, then one byte every `trickle_every` seconds, never finishing in time;
- ``("retry", seconds)``: 503 with Retry-After until `retry_count` requests were refused, then normal.

Every request is recorded in `requests` (path and headers).
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

CID = "c" * 64
IID = "sha256:" + "1" * 64
NID = "n" * 64


def _container() -> dict[str, Any]:
    return {"Id": CID, "Name": "/web", "Image": IID, "State": {"Running": True, "Status": "running"},
            "Config": {"Image": "auditor-test/busybox:latest", "Env": ["PATH=/bin"], "User": "1000",
                       "Labels": {}, "Healthcheck": {"Test": ["CMD", "true"]}},
            "HostConfig": {"Privileged": False, "ReadonlyRootfs": True, "Memory": 1 << 26, "NanoCpus": 10 ** 9,
                           "CpuShares": 512, "PidsLimit": 100, "SecurityOpt": ["no-new-privileges"],
                           "CapDrop": ["ALL"], "NetworkMode": "bridge", "PortBindings": {},
                           "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
                           "LogConfig": {"Type": "json-file", "Config": {}}},
            "Mounts": [], "NetworkSettings": {"Ports": {}}, "AppArmorProfile": "docker-default"}


ANSWERS: dict[str, Any] = {
    "/_ping": "OK",
    "/version": {"ApiVersion": "1.43", "Version": "24.0.0", "MinAPIVersion": "1.12"},
    "/info": {"ID": "fake", "DockerRootDir": "/var/lib/docker", "Swarm": {"LocalNodeState": "inactive"},
              "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=selinux"]},
    "/containers/json": [{"Id": CID, "Names": ["/web"], "State": "running", "Image": "auditor-test/busybox:latest",
                          "ImageID": IID}],
    "/images/json": [{"Id": IID, "RepoTags": ["auditor-test/busybox:latest"]}],
    "/networks": [{"Id": NID, "Name": "bridge"}],
    "/plugins": [],
    f"/containers/{CID}/json": _container(),
    f"/containers/{CID}/top": {"Titles": ["PID", "CMD"], "Processes": [["1", "sleep 100"]]},
    f"/images/{IID}/json": {"Id": IID, "Config": {"Env": [], "User": "1000"},
                            "RepoTags": ["auditor-test/busybox:latest"]},
    f"/images/{IID}/history": [{"Id": IID, "CreatedBy": "/bin/sh"}],
    f"/networks/{NID}": {"Id": NID, "Name": "bridge", "Options": {}},
}


class FakeDocker(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, faults: dict[str, Any] | None = None, trickle_every: float = 0.5,
                 retry_count: int = 1) -> None:
        self.path = path
        self.faults = dict(faults or {})
        self.trickle_every = trickle_every
        self.retry_count = retry_count
        self.refused = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        super().__init__(path, _Handler)
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self) -> FakeDocker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server: FakeDocker = self.server  # type: ignore[assignment]
        path = self.path.split("?")[0]
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2]
        server.requests.append((path, dict(self.headers.items())))
        fault = server.faults.get(path)
        kind = fault[0] if fault else "normal"
        if kind == "retry" and server.refused < server.retry_count:
            server.refused += 1
            body = b'{"message": "busy"}'
            self._send(503, body, {"Retry-After": str(fault[1])})
            self.wfile.write(body)
            return
        if kind == "status":
            body = json.dumps(fault[2]).encode()
            self._send(fault[1], body)
            self.wfile.write(body)
            return
        if path not in ANSWERS and kind not in ("json", "cut", "trickle"):
            body = json.dumps({"message": f"page not found: {path}"}).encode()
            self._send(404, body)
            self.wfile.write(body)
            return
        value = fault[1] if kind in ("json", "cut", "trickle") else ANSWERS[path]
        body = value.encode() if isinstance(value, str) else json.dumps(value).encode()
        if kind == "cut":
            self._send(200, body, length=len(body))
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind == "trickle":
            self._send(200, body)
            self.wfile.flush()
            for byte in body:
                if server.stopping.wait(server.trickle_every):
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
            return
        self._send(200, body)
        self.wfile.write(body)


