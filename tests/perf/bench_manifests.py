#!/usr/bin/env python3
"""Benchmark: Kubernetes manifests through the whole `auditor audit --manifests`.

Prints figures; asserts nothing (targets are checked by a person, not by a timed unit test):

* a synthetic cluster snapshot of about 50,000 objects (10,000 pods with their controllers,
  namespaces, RBAC, policies, secrets, services...) as one `kubectl get -A -o json` List of about
  27 MB: the whole audit (start-up, load, evaluate every pack, write evidence and results) against
  a bare `json.load` of the same file, both in a fresh process; targets: time <= 4x, peak memory
  (max RSS) <= 1.5x;
* a folder of 270 realistic YAML manifests (about 2.7 MB, multi-document): the whole audit of the
  folder (start-up included; target <= 1.5 s and <= 2x) against bare PyYAML CSafeLoader parsing of
  the same files, both as fresh processes (start-up in both) and, stricter, against the parse
  timed inside a process (its start-up not counted); and the collector alone, in process.

Python's bytecode: this sandbox sets PYTHONDONTWRITEBYTECODE=1, so every run would compile the
auditor's modules from source, which no installed program does (pip compiles them at install).
The runs here drop that variable and start with one warm-up run, so modules load as installed.

Usage: python3 tests/perf/bench_manifests.py [--pods 10000] [--files 270] [--keep DIR]
The data is generated deterministically (no randomness), so runs are comparable.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

HARD = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def _meta(name: str, ns: str | None, n: int, kind: str, **more: object) -> dict:
    m: dict = {"name": name}
    if ns:
        m["namespace"] = ns
    m.update({"uid": f"{n:08x}-{len(kind):04x}-4{n % 4096:03x}-8{n % 1000:03d}-{n * 7919 % 16**12:012x}",
              "resourceVersion": str(1000000 + n), "creationTimestamp": "2025-03-14T09:26:53Z",
              "labels": {"app.kubernetes.io/name": name.split("-")[0], "app.kubernetes.io/managed-by": "Helm"}})
    m.update(more)
    return m


def _containers(name: str, i: int, count: int) -> list[dict]:
    out = []
    for c in range(count):
        secure = (i + c) % 3 != 0
        out.append({
            "name": f"{name}-{c}" if c else name, "image": f"registry.example.com/team{i % 40}/{name}:{1 + i % 9}.{c}",
            "ports": [{"containerPort": 8080 + c, "protocol": "TCP"}],
            "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "password"}}}],
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}} if secure else {},
            "securityContext": HARD if secure else {"privileged": i % 50 == 0, "runAsUser": 0},
        })
    return out


def _pod_spec(name: str, i: int, containers: int) -> dict:
    spec: dict = {"containers": _containers(name, i, containers), "serviceAccountName": name}
    if i % 2:
        spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if i % 97 == 0:
        spec["hostNetwork"] = True
    return spec


def snapshot(pods: int) -> dict:
    """A deterministic kubectl List of about 5 objects per pod: per namespace of 50 pods, 12
    Deployments (4 replicas, a current and an old ReplicaSet each) and a StatefulSet of 2, their
    Services, Endpoints, EndpointSlices, ConfigMaps, Secrets, ServiceAccounts, events, RBAC and
    policies; plus nodes and cluster RBAC."""
    items: list[dict] = []

    def add(kind: str, api: str, obj: dict) -> None:
        items.append({"apiVersion": api, "kind": kind, **obj})

    def owned(kind: str, name: str, api: str = "apps/v1") -> list[dict]:
        return [{"apiVersion": api, "kind": kind, "name": name, "uid": "6f1c", "controller": True}]

    namespaces = [f"team-{i:03d}" for i in range(max(pods // 50, 1))]
    for i in range(max(pods // 200, 1)):
        add("Node", "v1", {"metadata": _meta(f"node-{i:03d}", None, i, "Node"),
                           "status": {"nodeInfo": {"kubeletVersion": "v1.30.4"}}})
    n = 0
    for ni, ns in enumerate(namespaces):
        labels = {"kubernetes.io/metadata.name": ns}
        if ni % 3:
            labels["pod-security.kubernetes.io/enforce"] = "baseline" if ni % 3 == 1 else "restricted"
        add("Namespace", "v1", {"metadata": {**_meta(ns, None, ni, "Namespace"), "labels": labels}})
        apps = [(f"svc{d:02d}", "Deployment", 4) for d in range(12)] + [("db", "StatefulSet", 2)]
        for name, kind, replicas in apps:
            n += 1
            spec = _pod_spec(name, n, 2 if n % 5 == 0 else 1)
            tmpl = {"metadata": {"labels": {"app": name}}, "spec": spec}
            add(kind, "apps/v1", {"metadata": _meta(name, ns, n, kind),
                                  "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                                           "template": tmpl}})
            owner_kind, owner = kind, name
            if kind == "Deployment":
                for rev in range(2):
                    rs = f"{name}-{n * 31 + rev:08x}"
                    add("ReplicaSet", "apps/v1", {"metadata": _meta(rs, ns, n, "ReplicaSet",
                                                                    ownerReferences=owned("Deployment", name)),
                                                  "spec": {"replicas": replicas * rev, "template": tmpl}})
                owner_kind, owner = "ReplicaSet", rs
            for p in range(replicas):
                add("Pod", "v1", {"metadata": _meta(f"{owner}-{p:05d}", ns, n * 4 + p, "Pod",
                                                    ownerReferences=owned(owner_kind, owner)),
                                  "spec": {**spec, "nodeName": f"node-{(n + p) % 50:03d}"},
                                  "status": {"phase": "Running", "podIP": f"10.{ni % 250}.{n % 250}.{p}"}})
            add("Service", "v1", {"metadata": _meta(name, ns, n, "Service"), "spec": {
                "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})
            add("Endpoints", "v1", {"metadata": _meta(name, ns, n, "Endpoints"), "subsets": [
                {"addresses": [{"ip": f"10.{ni % 250}.{n % 250}.{p}"} for p in range(replicas)]}]})
            add("EndpointSlice", "discovery.k8s.io/v1", {"metadata": _meta(f"{name}-x1", ns, n, "EndpointSlice"),
                                                         "addressType": "IPv4"})
            for cm in ("config", "flags"):
                add("ConfigMap", "v1", {"metadata": _meta(f"{name}-{cm}", ns, n, "ConfigMap"),
                                        "data": {"app.yaml": "log: info\nport: 8080\n"}})
            for sec in ("db", "tls"):
                add("Secret", "v1", {"metadata": _meta(f"{name}-{sec}", ns, n, "Secret"), "type": "Opaque",
                                     "data": {"password": "c2VjcmV0LXZhbHVlLW5vdC1mb3ItdGhlLWJ1bmRsZQ=="}})
            add("ServiceAccount", "v1", {"metadata": _meta(name, ns, n, "ServiceAccount")})
            for e in range(3):
                add("Event", "v1", {"metadata": _meta(f"{name}.{n:x}{e}", ns, n, "Event"),
                                    "involvedObject": {"kind": kind, "name": name}, "reason": "Scheduled"})
        add("Role", "rbac.authorization.k8s.io/v1", {"metadata": _meta("deployer", ns, ni, "Role"), "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "update", "patch"]},
            {"apiGroups": [""], "resources": ["secrets"] if ni % 5 == 0 else ["configmaps"], "verbs": ["get"]}]})
        add("RoleBinding", "rbac.authorization.k8s.io/v1", {"metadata": _meta("deployer", ns, ni, "RoleBinding"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "svc00", "namespace": ns}]})
        if ni % 2 == 0:
            add("NetworkPolicy", "networking.k8s.io/v1", {"metadata": _meta("default-deny", ns, ni, "NetworkPolicy"),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
        if ni % 4 == 0:
            add("LimitRange", "v1", {"metadata": _meta("defaults", ns, ni, "LimitRange"), "spec": {"limits": [
                {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}}]}})
            add("ResourceQuota", "v1", {"metadata": _meta("compute", ns, ni, "ResourceQuota"),
                                        "spec": {"hard": {"pods": "100"}}})
    for i in range(max(pods // 50, 1)):
        add("ClusterRole", "rbac.authorization.k8s.io/v1", {"metadata": _meta(f"role-{i}", None, i, "ClusterRole"),
            "rules": [{"apiGroups": ["*"] if i % 40 == 0 else [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
        add("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", {
            "metadata": _meta(f"binding-{i}", None, i, "ClusterRoleBinding"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"role-{i}"},
            "subjects": [{"kind": "Group", "name": f"team-{i:03d}"}]})
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def manifest_folder(folder: str, files: int) -> None:
    """`files` YAML files (each a Deployment, Service, ConfigMap, ServiceAccount and sometimes a
    NetworkPolicy or RBAC), about 10 KB each, as a team's GitOps repository holds them."""
    import yaml

    for i in range(files):
        ns = f"team-{i % 27:02d}"
        name = f"app{i:03d}"
        docs = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, ns, i, "Deployment"),
                 "spec": {"replicas": 3, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                          "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                                       "spec": _pod_spec(name, i, 2 + i % 2)}}},
                {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, i, "Service"),
                 "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": [{"port": 80, "targetPort": 8080}]}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{name}-config", ns, i, "ConfigMap"),
                 "data": {"app.yaml": "".join(f"key{k}: value-{k}-{i}\n" for k in range(255))}},
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, ns, i, "ServiceAccount")}]
        if i % 3 == 0:
            docs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": _meta(f"{name}-ingress", ns, i, "NetworkPolicy"),
                         "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
                                  "ingress": [{"from": [{"namespaceSelector": {}}]}]}})
        if i % 5 == 0:
            docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                         "metadata": _meta(f"{name}-reader", ns, i, "Role"),
                         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
        with open(os.path.join(folder, f"{i:03d}-{name}.yaml"), "w") as fh:
            fh.write(f"# {name}: rendered by the team's pipeline\n")
            yaml.safe_dump_all(docs, fh, sort_keys=False, default_flow_style=False, explicit_start=True)


# Peak memory of a child (ru_maxrss) includes the memory of the process that spawned it, up to
# its exec (Linux records the old address space's high-water mark at exec). This benchmark holds
# the generated snapshot, so its children are spawned by a small helper started first instead.
_SPAWNER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    cmd = json.loads(line)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    print(json.dumps([wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status), err[-2000:]]), flush=True)
"""
_spawner: subprocess.Popen | None = None


def run_measured(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of a fresh process."""
    global _spawner
    if _spawner is None:
        _spawner = subprocess.Popen([sys.executable, "-c", _SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True)
    assert _spawner.stdin is not None and _spawner.stdout is not None
    _spawner.stdin.write(json.dumps(cmd) + "\n")
    _spawner.stdin.flush()
    wall, maxrss, code, err = json.loads(_spawner.stdout.readline())
    if code not in (0, 1, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {err.strip()}")
    return wall, maxrss, code


def best(cmd: list[str], repeat: int) -> tuple[float, int]:
    runs = [run_measured(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--files", type=int, default=270)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="auditor-bench-k8s-")
    os.makedirs(work, exist_ok=True)
    py = sys.executable
    env_path = f"PYTHONPATH={REPO}"
    os.environ["PYTHONPATH"] = REPO + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # see the module docstring
    run_measured([py, "-c", "pass"])  # starts the spawner while this process is still small
    try:
        dump = os.path.join(work, "cluster.json")
        doc = snapshot(args.pods)
        kinds: dict[str, int] = {}
        for item in doc["items"]:
            kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
        with open(dump, "w") as fh:  # one object a line (as `kubectl ... | jq -c` makes it): lines stay meaningful
            fh.write('{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [\n')
            fh.write(",\n".join(json.dumps(item, separators=(",", ":")) for item in doc["items"]))
            fh.write("\n]}\n")
        del doc
        size = os.path.getsize(dump)
        print(f"snapshot: {sum(kinds.values())} objects ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), "
              f"{size / 1e6:.1f} MB  [{env_path}]")
        out = os.path.join(work, "reports")
        # load, evaluate, write evidence and results: the HTML/PDF reports are measured elsewhere
        helptext = subprocess.run([py, "-m", "auditor", "audit", "--help"], capture_output=True, text=True).stdout
        no_reports = [flag for flag in ("--no-html", "--no-pdf") if flag in helptext]
        t_json, m_json = best([py, "-c", f"import json; json.load(open({dump!r}))"], args.repeat)
        t_collect, m_collect = best([py, "-c", "from auditor.collect.manifests import collect_manifests; "
                                     f"collect_manifests([{dump!r}])"], args.repeat)
        t_audit, m_audit = best([py, "-m", "auditor", "audit", "--manifests", dump, "-o", out, *no_reports],
                                 args.repeat)
        print(f"  bare json.load (process)      {t_json:6.2f} s  {m_json / 1024:7.0f} MiB")
        print(f"  collect_manifests (process)   {t_collect:6.2f} s  {m_collect / 1024:7.0f} MiB   "
              f"{t_collect / t_json:.2f}x time  {m_collect / m_json:.2f}x memory")
        print(f"  auditor audit --manifests     {t_audit:6.2f} s  {m_audit / 1024:7.0f} MiB   "
              f"{t_audit / t_json:.2f}x time  {m_audit / m_json:.2f}x memory   (targets: <= 4x, <= 1.5x)")
        print(f"    ({' '.join(no_reports) or 'no report flags'}) files written:")
        for f in sorted(glob.glob(os.path.join(out, "*"))):
            print(f"    wrote {os.path.basename(f)}: {os.path.getsize(f) / 1e6:.1f} MB")
        shutil.rmtree(out, ignore_errors=True)

        folder = os.path.join(work, "manifests")
        os.makedirs(folder, exist_ok=True)
        manifest_folder(folder, args.files)
        files = sorted(glob.glob(os.path.join(folder, "*.yaml")))
        total = sum(os.path.getsize(f) for f in files)
        print(f"folder: {len(files)} files, {total / 1e6:.2f} MB YAML")
        import yaml

        from auditor.collect.manifests import collect_manifests

        def bare() -> None:
            for f in files:
                with open(f, encoding="utf-8") as fh:
                    list(yaml.load_all(fh.read(), Loader=yaml.CSafeLoader))

        bare_script = ("import glob, yaml\n"
                       f"for f in sorted(glob.glob({os.path.join(folder, '*.yaml')!r})):\n"
                       "    with open(f, encoding='utf-8') as fh:\n"
                       "        list(yaml.load_all(fh.read(), Loader=yaml.CSafeLoader))\n")
        t_bare = min(_timed(bare) for _ in range(args.repeat))
        t_coll = min(_timed(lambda: collect_manifests([folder])) for _ in range(args.repeat))
        audit = [py, "-m", "auditor", "audit", "--manifests", folder, "-o", out, *no_reports]
        run_measured(audit)  # warm-up: Python writes the bytecode of the auditor's modules once
        t_bare_proc, _ = best([py, "-c", bare_script], args.repeat)
        t_faudit, m_faudit = best(audit, args.repeat)
        print(f"  bare CSafeLoader (in process) {t_bare:6.2f} s")
        print(f"  bare CSafeLoader (process)    {t_bare_proc:6.2f} s   (python3 -c 'import yaml; parse every file')")
        print(f"  collect_manifests (in process){t_coll:6.2f} s   {t_coll / t_bare:.2f}x the in-process parse")
        print(f"  auditor audit --manifests     {t_faudit:6.2f} s  {m_faudit / 1024:7.0f} MiB (whole run, start-up "
              f"included; target <= 1.5 s)")
        print(f"      {t_faudit / t_bare_proc:.2f}x the bare parse as a process (start-up in both; target <= 2x)")
        print(f"      {t_faudit / t_bare:.2f}x the bare parse in process (the run's start-up counted, the "
              "parse's not)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
