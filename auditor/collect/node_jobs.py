"""The node collector as Kubernetes Jobs: the Job template, the host paths it mounts, and the
run of one Job per node (`auditor audit --target cluster --all-nodes`).

A run (:class:`Orchestration`) lists nothing itself: it is given the cluster's Node objects. A
NotReady or cordoned node gets no Job and is reported with the reason. Every other node gets a
Job pinned to it by name (node affinity on metadata.name, so the scheduler still says why a pod
cannot run there), at most ``parallel`` at once; a Job is polled until it completes, fails, or
``timeout`` passes (the Job's own activeDeadlineSeconds is the same). The log of a completed pod
is returned as text for the evidence stage to unframe and check (auditor/evidence/framing.py).
Every Job created is deleted (background propagation: its pod goes with it), after its node is
done, on error and on Ctrl-C; ttlSecondsAfterFinished covers an orchestrator killed outright.

The template (``node_collector_job.yaml``, the same file as
deploy/kubernetes/templates/node-collector-job.yaml) mounts, read-only, the directories that
hold every path ``node_layouts.yaml`` names, each cut to the base directory every Linux node has
(:data:`HOST_BASE_DIRS`), with hostPath type ``Directory``: a hostPath that does not exist is
never created on the node (without a type the container runtime creates missing directories,
which would write to the host and make the collector see a distribution that is not there).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

JOB_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_collector_job.yaml")
HOST_ROOT = "/host"
# Directories every Linux node has; each layout path is mounted through the deepest one above it.
HOST_BASE_DIRS = ("/etc", "/var/lib", "/usr/lib", "/usr/local/lib", "/lib")
# Files read besides the layouts' (owners' names, the node's name): all under /etc.
HOST_FILES = ("/etc/passwd", "/etc/group", "/etc/hostname")


def layout_paths() -> list[str]:
    """Every host path the node layouts name (markers, files, directories), all distributions."""
    from auditor.collect.node import load_layouts

    paths: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith("/"):
            paths.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    walk(load_layouts())
    return sorted(set(paths))


def base_dir(path: str) -> str:
    """The host base directory a path is read through (ValueError when none holds it)."""
    for base in sorted(HOST_BASE_DIRS, key=len, reverse=True):
        if path == base or path.startswith(base + "/"):
            return base
    raise ValueError(f"{path}: under none of {', '.join(HOST_BASE_DIRS)}")


def host_mounts() -> list[str]:
    """The host directories the node collector mounts: the base directories of the layout paths."""
    return sorted({base_dir(p) for p in (*layout_paths(), *HOST_FILES)})


@lru_cache(maxsize=1)
def _template_text() -> str:
    with open(JOB_TEMPLATE, encoding="utf-8") as fh:
        return fh.read()


def job_template() -> dict[str, Any]:
    """A fresh copy of the node collector Job template."""
    from auditor.common.safeyaml import safe_load

    return safe_load(_template_text(), JOB_TEMPLATE)


# ---------------------------------------------------------------------------------------------
# running one Job per node

@dataclass
class NodeRun:
    """What running the collector on one node gave: its log (the framed bundle), or why not."""

    node: str
    roles: list[str]
    job: str | None = None
    log: str | None = None
    error: str | None = None


def node_roles(node: dict[str, Any]) -> list[str]:
    """control-plane / etcd / worker, from the node's role labels (a node with none is a worker)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = [r for r in ("control-plane", "etcd") if f"node-role.kubernetes.io/{r}" in labels
             or (r == "control-plane" and "node-role.kubernetes.io/master" in labels)]
    return roles + ["worker"] if not roles or "node-role.kubernetes.io/worker" in labels else roles


def node_unavailable(node: dict[str, Any]) -> str | None:
    """Why no collector is started on a node: NotReady (with the kubelet's message) or cordoned."""
    if (node.get("spec") or {}).get("unschedulable"):
        return "node is cordoned (spec.unschedulable): no collector Job was started on it"
    ready = next((c for c in (node.get("status") or {}).get("conditions") or []
                  if isinstance(c, dict) and c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") != "True":
        why = (ready or {}).get("message") or (ready or {}).get("reason") or "no Ready condition"
        return f"node is NotReady ({why}): no collector Job was started on it"
    return None


def _dns_label(text: str, limit: int = 63) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return label or "node"


def job_body(node: str, run_id: str, image: str, namespace: str, timeout: float) -> dict[str, Any]:
    """The Job for one node: the template pinned to the node by name, with this run's labels."""
    job = job_template()
    digest = hashlib.sha256(node.encode()).hexdigest()[:8]
    name = f"auditor-node-{_dns_label(node, 30)}-{digest}-{run_id}"[:63].rstrip("-")
    labels = {"app.kubernetes.io/name": "auditor", "app.kubernetes.io/component": "node-collector",
              "auditor.invalid/run": run_id, "auditor.invalid/node": _dns_label(node)}
    job["metadata"] = {"name": name, "namespace": namespace, "labels": labels}
    spec = job["spec"]
    spec["activeDeadlineSeconds"] = max(1, int(math.ceil(timeout)))
    pod = spec["template"]
    pod["metadata"] = {"labels": dict(labels)}
    term = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    term["nodeSelectorTerms"] = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    pod["spec"]["containers"][0]["image"] = image
    return job


class JobsApi:
    """The few calls the Jobs need, through the cluster collector's configured client."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.jobs_path = f"/apis/batch/v1/namespaces/{namespace}/jobs"

    def create(self, body: dict[str, Any]) -> tuple[int, bytes]:
        return self.api.request("POST", self.jobs_path, body=body)

    def status(self, name: str) -> tuple[int, dict[str, Any]]:
        status, data = self.api.request("GET", f"{self.jobs_path}/{name}")
        return status, _json(data)

    def pods(self, name: str) -> list[dict[str, Any]]:
        status, data = self.api.request("GET", f"/api/v1/namespaces/{self.namespace}/pods",
                                        query=[("labelSelector", f"job-name={name}")])
        return [p for p in _json(data).get("items") or [] if isinstance(p, dict)] if status == 200 else []

    def log(self, pod: str) -> tuple[int, bytes]:
        return self.api.request("GET", f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log",
                                query=[("container", "collector")], accept="text/plain")

    def delete(self, name: str) -> int:
        status, _ = self.api.request("DELETE", f"{self.jobs_path}/{name}",
                                     body={"kind": "DeleteOptions", "apiVersion": "v1",
                                           "propagationPolicy": "Background"})
        return status


def _json(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _pod_reason(pods: list[dict[str, Any]]) -> str:
    """Why a node's pod did not finish: unschedulable (the scheduler's message), waiting, or phase."""
    if not pods:
        return "no pod was created for the Job"
    status = pods[0].get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"pod cannot be scheduled: {cond.get('message') or cond.get('reason')}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"container waiting: {waiting.get('reason')}: {waiting.get('message') or ''}".rstrip(": ")
    return f"pod phase {status.get('phase') or 'unknown'}"


@dataclass
class Orchestration:
    """One run of the node collector on many nodes, and what it created (to delete it all)."""

    jobs: JobsApi
    image: str
    parallel: int = 10
    timeout: float = 300.0
    poll: float = 2.0
    run_id: str = field(default_factory=lambda: os.urandom(3).hex())
    created: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    forbidden: str | None = None
    interrupted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, nodes: list[dict[str, Any]]) -> list[NodeRun]:
        """Every node's result, in the nodes' order; everything created is deleted, also on Ctrl-C."""
        runs = [NodeRun(str((n.get("metadata") or {}).get("name") or "?"), node_roles(n)) for n in nodes]
        todo = []
        for run, node in zip(runs, nodes, strict=True):
            run.error = node_unavailable(node)
            if run.error is None:
                todo.append(run)
        pool = ThreadPoolExecutor(max(1, self.parallel))
        try:
            futures = [pool.submit(self._one, run) for run in todo]
            for future in futures:
                while True:
                    try:
                        future.result(timeout=0.2)
                        break
                    except FutureTimeout:
                        continue
        except KeyboardInterrupt:  # every worker stops waiting, deletes its Job; the rest is reported
            self.interrupted = True
            self.stop.set()
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.cleanup()
        for run in todo:
            if run.log is None and run.error is None:
                run.error = "interrupted (Ctrl-C) before its collector Job was started"
        return runs

    def cleanup(self) -> None:
        with self.lock:
            names = sorted(self.created)
        for name in names:
            try:
                self.jobs.delete(name)
            except Exception:  # one more try below; nothing else can be done from here
                pass
            with self.lock:
                self.created.discard(name)

    def _one(self, run: NodeRun) -> None:
        if self.stop.is_set():
            run.error = "interrupted before its collector Job was started"
            return
        if self.forbidden:
            run.error = self.forbidden
            return
        body = job_body(run.node, self.run_id, self.image, self.jobs.namespace, self.timeout)
        name = body["metadata"]["name"]
        try:
            status, data = self.jobs.create(body)
        except Exception as exc:
            run.error = f"creating its collector Job failed: {exc}"
            return
        if status in (401, 403):
            self.forbidden = f"creating its collector Job was refused: {_status_line(status, data)}"
            run.error = self.forbidden
            return
        if status not in (200, 201):
            run.error = f"creating its collector Job failed: {_status_line(status, data)}"
            return
        with self.lock:
            self.created.add(name)
        run.job = name
        try:
            self._wait(run, name)
        finally:
            try:
                self.jobs.delete(name)
                with self.lock:
                    self.created.discard(name)
            except Exception:
                pass  # left in `created`: cleanup() tries again

    def _wait(self, run: NodeRun, name: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            if self.stop.is_set():
                run.error = "interrupted (Ctrl-C) while its collector Job ran"
                return
            try:
                status, job = self.jobs.status(name)
            except Exception as exc:
                status, job = 0, {"message": str(exc)}
            if status == 404:
                run.error = "its collector Job disappeared (deleted outside the audit)"
                return
            conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                          if isinstance(c, dict) and c.get("status") == "True"}
            if "Complete" in conditions or (job.get("status") or {}).get("succeeded"):
                return self._read_log(run, name)
            if "Failed" in conditions:
                cond = conditions["Failed"]
                detail = _pod_reason(self.jobs.pods(name))
                run.error = (f"collector Job failed: {cond.get('reason')}: {cond.get('message') or ''}".rstrip(": ")
                             + f" ({detail})")
                return
            if time.monotonic() >= deadline:
                run.error = (f"collector Job did not finish within {self.timeout:g} s "
                             f"({_pod_reason(self.jobs.pods(name))})")
                return
            self.stop.wait(self.poll)

    def _read_log(self, run: NodeRun, name: str) -> None:
        pods = [p for p in self.jobs.pods(name) if (p.get("status") or {}).get("phase") == "Succeeded"]
        if not pods:
            run.error = "collector Job completed but its pod is gone (no log to read)"
            return
        pod = str((pods[0].get("metadata") or {}).get("name"))
        status, data = self.jobs.log(pod)
        if status != 200:
            run.error = f"reading the log of pod {pod} failed: {_status_line(status, data)}"
            return
        run.log = data.decode("utf-8", errors="replace")


def _status_line(status: int, data: bytes) -> str:
    message = _json(data).get("message") or data[:200].decode("utf-8", "replace")
    return f"HTTP {status}: {' '.join(str(message).split())}"
