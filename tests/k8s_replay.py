"""A loopback HTTPS server replaying recorded Kubernetes API list responses.

No API server can run on the test machines, so the live cluster collector is tested against
this: recorded responses from tests/fixtures/k8s_api/*.json (`{"path", "pages": [LIST, ...],
"table_pages": [TABLE, ...]?}` or `{"path", "body"}`), served page by page by their continue
tokens, behind a self-signed certificate and a bearer token, as kubectl would see them.
Tests can make a path answer 403, or answer one page slowly, and read back every request made
(method and body too). `faults` makes a path misbehave: ``("status", code, message)``,
``("json", value)`` (200 with a wrong shape), ``("cut", value)`` (the body cut in half under
the full Content-Length), ``("trickle", value, seconds)`` (one byte every so many seconds) or
``("loop",)`` (the first page, always with the same continue token).
With ``jobs=JobWorld()`` it also plays the Jobs of --all-nodes: it keeps the Job creation bodies,
serves each Job's status, its pod and the pod's log per node (a framed bundle, or a node that
never finishes, a log cut off midway, a failed Job, a 403 on creation), and records deletions.
"""

from __future__ import annotations

import base64
import datetime as dt
import glob
import ipaddress
import json
import os
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "k8s_api")


def self_signed_cert(directory: str) -> tuple[str, str]:
    """(cert path, key path) of a fresh self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver-replay")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "server.crt"), os.path.join(directory, "server.key")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Request:
    path: str
    query: dict[str, str]
    accept: str
    authorization: str
    method: str = "GET"
    body: Any = None


@dataclass
class ReplayServer:
    """Serves the recorded responses on https://127.0.0.1:PORT until stopped."""

    token: str = "replay-token"
    fixtures: str = FIXTURES
    forbidden: dict[str, str] = field(default_factory=dict)          # path -> message (403)
    delays: dict[tuple[str, int], float] = field(default_factory=dict)  # (path, page index) -> seconds
    requests: list[Request] = field(default_factory=list)
    faults: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # path -> misbehaviour (see above)
    jobs: Any = None  # a JobWorld: simulated Jobs, pods and logs per node (--all-nodes)

    def __post_init__(self) -> None:
        self.routes: dict[str, dict[str, Any]] = {}
        for path in sorted(glob.glob(os.path.join(self.fixtures, "*.json"))):
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
            self.routes[doc["path"]] = doc
        self._dir = tempfile.mkdtemp(prefix="auditor-k8s-replay-")
        self.cert, key = self_signed_cert(self._dir)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server._answer(self)

            def do_POST(self) -> None:  # noqa: N802
                server._answer(self)

            def do_DELETE(self) -> None:  # noqa: N802
                server._answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    # -- answering ------------------------------------------------------------------------

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        text = isinstance(body, str)
        data = body.encode() if text else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain" if text else "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass  # the client gave up (a timeout test)

    @staticmethod
    def _status(code: int, reason: str, message: str) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                "reason": reason, "code": code}

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        accept = handler.headers.get("Accept", "")
        auth = handler.headers.get("Authorization", "")
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Request(url.path, query, accept, auth, handler.command, body))
        scheme, _, credential = auth.partition(" ")  # the scheme is case-insensitive, as in the API server
        if scheme.lower() != "bearer" or credential != self.token:
            return self._send(handler, 401, self._status(401, "Unauthorized", "Unauthorized"))
        if url.path in self.forbidden:
            return self._send(handler, 403, self._status(403, "Forbidden", self.forbidden[url.path]))
        if url.path in self.faults:
            return self._fault(handler, url.path, self.faults[url.path])
        if self.jobs is not None:
            answer = self.jobs.answer(handler.command, url.path, query, body)
            if answer is not None:
                return self._send(handler, *answer)
        if handler.command != "GET":
            return self._send(handler, 405, self._status(405, "MethodNotAllowed", "read-only replay"))
        route = self.routes.get(url.path)
        if route is None:
            return self._send(handler, 404, self._status(404, "NotFound", "the server could not find the "
                                                         "requested resource"))
        if "body" in route:
            return self._send(handler, 200, route["body"])
        table = "as=Table" in accept and "table_pages" in route
        pages = route["table_pages"] if table else route["pages"]
        index = 0
        token = query.get("continue")
        if token:
            index = next((i + 1 for i, p in enumerate(pages) if p["metadata"].get("continue") == token), -1)
            if index < 0:
                return self._send(handler, 410, self._status(410, "Expired", "The provided continue parameter "
                                                             "is too old to display a consistent list result."))
        delay = self.delays.get((url.path, index))
        if delay:
            time.sleep(delay)
        return self._send(handler, 200, pages[index])

    def _fault(self, handler: BaseHTTPRequestHandler, path: str, fault: tuple[Any, ...]) -> None:
        kind = fault[0]
        if kind == "status":
            reason = {403: "Forbidden", 404: "NotFound", 500: "InternalError"}.get(fault[1], "Error")
            return self._send(handler, fault[1], self._status(fault[1], reason, fault[2]))
        if kind == "json":
            return self._send(handler, 200, fault[1])
        if kind == "loop":
            page = dict(self.routes[path]["pages"][0])
            page["metadata"] = {**page.get("metadata", {}), "continue": "again"}
            return self._send(handler, 200, page)
        data = json.dumps(fault[1]).encode()
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.flush()
            if kind == "cut":
                handler.wfile.write(data[: len(data) // 2])
                handler.wfile.flush()
                handler.close_connection = True
                return None
            for byte in data:  # trickle
                time.sleep(fault[2])
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass  # the client gave up
        return None

    # -- helpers for tests --------------------------------------------------------------------

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def page_count(self, path: str) -> int:
        route = self.routes[path]
        return len(route.get("pages") or [route.get("body")])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        for name in os.listdir(self._dir):
            os.unlink(os.path.join(self._dir, name))
        os.rmdir(self._dir)


def write_kubeconfig(path: str, contexts: dict[str, tuple[ReplayServer, str]], current: str) -> str:
    """A kubeconfig with one context (and cluster and user) per entry: name -> (server, token)."""
    clusters, users, ctxs = [], [], []
    for name, (server, token) in contexts.items():
        with open(server.cert, "rb") as fh:
            ca = base64.b64encode(fh.read()).decode()
        clusters.append({"name": f"{name}-cluster", "cluster": {"server": server.url,
                                                                "certificate-authority-data": ca}})
        users.append({"name": f"{name}-user", "user": {"token": token}})
        ctxs.append({"name": name, "context": {"cluster": f"{name}-cluster", "user": f"{name}-user"}})
    doc = {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": ctxs,
           "current-context": current, "preferences": {}}
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(doc, fh)
    return path


@dataclass
class NodeSim:
    """How a simulated node's collector Job behaves: its log (a framed bundle), or a fault."""

    log: str = ""
    behaviour: str = "ok"      # ok | hang (never finishes, pod unschedulable) | cut (log cut midway) | fail
    polls: int = 1             # status reads before the Job completes


class JobWorld:
    """Jobs, their pods and logs, per node, for the --all-nodes orchestration: Job creation bodies
    are recorded, status and logs served, deletions recorded; the most Jobs alive at once is kept."""

    def __init__(self, namespace: str = "auditor") -> None:
        self.namespace = namespace
        self.nodes: dict[str, NodeSim] = {}
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.live: dict[str, dict[str, Any]] = {}
        self.max_live = 0
        self.forbid_create: str | None = None
        self.lock = threading.Lock()

    def _node_of(self, job: dict[str, Any]) -> str:
        pod = job["spec"]["template"]["spec"]
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        return terms[0]["matchFields"][0]["values"][0]

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any] | None:
        jobs = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        pods = f"/api/v1/namespaces/{self.namespace}/pods"
        with self.lock:
            if method == "POST" and path == jobs:
                if self.forbid_create:
                    return 403, _status(403, "Forbidden", self.forbid_create)
                name = body["metadata"]["name"]
                self.created.append(body)
                self.live[name] = {"body": body, "polls": 0}
                self.max_live = max(self.max_live, len(self.live))
                return 201, {**body, "metadata": {**body["metadata"], "uid": f"uid-{len(self.created)}"}}
            if path.startswith(jobs + "/"):
                name = path[len(jobs) + 1:]
                job = self.live.get(name)
                if method == "DELETE":
                    self.deleted.append(name)
                    if job is None:
                        return 404, _status(404, "NotFound", f'jobs.batch "{name}" not found')
                    del self.live[name]
                    return 200, {"kind": "Status", "status": "Success"}
                if job is None:
                    return 404, _status(404, "NotFound", f'jobs.batch "{name}" not found')
                job["polls"] += 1
                sim = self.nodes.get(self._node_of(job["body"]), NodeSim(behaviour="hang"))
                status: dict[str, Any] = {"active": 1}
                if sim.behaviour != "hang" and job["polls"] >= sim.polls:
                    ok = sim.behaviour != "fail"
                    status = {"succeeded" if ok else "failed": 1, "conditions": [
                        {"type": "Complete" if ok else "Failed", "status": "True",
                         "reason": None if ok else "BackoffLimitExceeded",
                         "message": None if ok else "Job has reached the specified backoff limit"}]}
                return 200, {**job["body"], "status": status}
            if method == "GET" and path == pods:
                name = query.get("labelSelector", "").removeprefix("job-name=")
                job = self.live.get(name)
                if job is None:
                    return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}
                sim = self.nodes.get(self._node_of(job["body"]), NodeSim(behaviour="hang"))
                done = sim.behaviour != "hang" and job["polls"] >= sim.polls
                phase = ("Failed" if sim.behaviour == "fail" else "Succeeded") if done else "Pending"
                status = {"phase": phase}
                if sim.behaviour == "hang":
                    status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                             "message": "0/3 nodes are available: 1 node(s) had untolerated "
                                                        "taint {dedicated: gpu}."}]
                return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                             "items": [{"metadata": {"name": f"{name}-x7k2p", "labels": {"job-name": name}},
                                        "status": status}]}
            if method == "GET" and path.startswith(pods + "/") and path.endswith("/log"):
                pod = path[len(pods) + 1:-len("/log")]
                job = self.live.get(pod.rsplit("-", 1)[0])
                if job is None:
                    return 404, _status(404, "NotFound", f'pods "{pod}" not found')
                sim = self.nodes[self._node_of(job["body"])]
                log = sim.log if sim.behaviour != "cut" else sim.log[: len(sim.log) // 2]
                return 200, log
        return None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
