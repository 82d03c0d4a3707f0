"""Benchmark: a whole cluster's evidence, merged and judged (issue 12's scale figures).

Three real node roots (a kubeadm control plane, a kubeadm worker and a k3s node, built as the
tests build them) are collected once by the node collector; copies of those bundles under other
node names make up 10, 100 and 1,000 node bundles (mixed roles: 3 control planes, then workers
and k3s nodes alternating). Each set is merged with the 43k-object synthetic cluster dump
(`make_cluster.py`, collected as a manifests bundle) by `auditor merge`, judged by `auditor
evaluate`, and rendered by `auditor report` as HTML and as PDF, each a process of its own as a user
runs them. Printed per node count: wall seconds and peak memory of each step, and the time per
node, to show growth is linear. Targets: merge + evaluate + HTML and JSON reports of 1,000 nodes
in at most 60 s and 4 GB here.

    python3 tests/perf/bench_merge.py [--nodes 10,100,1000] [--dump FILE] [--pdf]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE), os.path.dirname(os.path.dirname(HERE))]

import nodetree  # noqa: E402
from bench_default_run import auditor, mib, run_measured  # noqa: E402
from cluster_dump import make_dump  # noqa: E402

from auditor.collect.node import collect_node  # noqa: E402
from auditor.evidence.bundle import build_bundle, content_sha256  # noqa: E402

CA = b"""-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIUJ0dV0m8K8nS3bKq1dQ8pYzv1fQwwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKa3ViZXJuZXRlczAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEw
-----END CERTIFICATE-----
"""


def _control_plane(root: str) -> None:
    nodetree.kubeadm_tree(root)
    nodetree.write(root, "/etc/kubernetes/kubelet.conf", nodetree.kubelet_kubeconfig(CA), 0o600)
    nodetree.write(root, "/etc/kubernetes/pki/ca.crt", CA.decode(), 0o644)


def _k3s(root: str) -> None:
    nodetree.write(root, "/etc/hostname", "k3s-base\n", 0o644)
    nodetree.write(root, "/etc/rancher/k3s/config.yaml", "write-kubeconfig-mode: '0600'\n", 0o600)
    nodetree.write(root, "/etc/rancher/k3s/k3s.yaml", "apiVersion: v1\n", 0o644)
    nodetree.write(root, "/var/lib/rancher/k3s/agent/kubelet.kubeconfig", nodetree.kubelet_kubeconfig(CA), 0o600)


def base_bundles(work: str) -> dict[str, dict]:
    builders = {"cp": _control_plane, "worker": lambda r: nodetree.worker_tree(r, "worker-base", ca_pem=CA),
                "k3s": _k3s}
    out = {}
    for role, build in builders.items():
        root = os.path.join(work, f"root-{role}")
        os.makedirs(root)
        build(root)
        out[role] = build_bundle(collect_node(root=root), root=root)
    return out


def renamed(doc: dict, name: str) -> dict:
    """The bundle as if collected on node `name`: every subject's host name replaced."""
    text = json.dumps(doc)
    for item in doc["targets"].get("node.info") or []:
        old = item["subject"]["name"]
        text = text.replace(json.dumps(old), json.dumps(name))
    copy = json.loads(text)
    copy["sha256"] = content_sha256(copy)
    return copy


def node_set(bases: dict[str, dict], count: int, folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        role = "cp" if i < min(3, count) else ("worker" if i % 2 else "k3s")
        path = os.path.join(folder, f"node-{i:04d}.evidence.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(renamed(bases[role], f"{role}-{i:04d}"), fh)
        paths.append(path)
    return paths


def step(label: str, cmd: list[str]) -> dict:
    r = run_measured(cmd)
    print(f"    {label:28s} {r['wall']:7.2f} s  peak {mib(r['peak'])} (largest process {mib(r['maxrss'])})")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="10,100,1000")
    ap.add_argument("--dump", help="the 43k-object dump (default: made by make_cluster.py)")
    ap.add_argument("--pdf", action="store_true", help="also time the PDF report")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-merge-")
    try:
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        dump = args.dump or os.path.join(work, "cluster.json")
        if not args.dump:
            make_dump(dump, quiet=True)
        cluster = os.path.join(work, "cluster.evidence.json")
        step("collect manifests (dump)", auditor("collect", "manifests", dump, "-o", cluster))
        t = time.perf_counter()
        bases = base_bundles(work)
        print(f"  three base node bundles collected in {time.perf_counter() - t:.2f} s")
        rows = []
        for count in (int(n) for n in args.nodes.split(",")):
            folder = os.path.join(work, f"n{count}")
            nodes = node_set(bases, count, folder)
            print(f"  {count} nodes + the dump:")
            merged = os.path.join(folder, "merged.evidence.json")
            m = step("merge", auditor("merge", cluster, *nodes, "-o", merged))
            out = os.path.join(folder, "out")
            e = step("evaluate (results JSON)", auditor("evaluate", merged, "-o", out))
            results = next(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".results.json"))
            h = step("report HTML", auditor("report", results, "--format", "html"))
            total = m["wall"] + e["wall"] + h["wall"]
            peak = max(m["peak"], e["peak"], h["peak"])
            if args.pdf:
                p = step("report PDF", auditor("report", results, "--format", "pdf"))
                total_pdf = total + p["wall"]
                print(f"    with the PDF                 {total_pdf:7.2f} s")
            with open(results, encoding="utf-8") as fh:
                judged = json.load(fh)
            print(f"      hosts judged: {len(judged.get('hosts') or [])}, controls: {len(judged['controls'])}")
            sizes = {f: os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)}
            for f, size in sorted(sizes.items()):
                print(f"      {f:44s} {size / 1e6:8.2f} MB")
            print(f"    merge + evaluate + HTML      {total:7.2f} s  peak {mib(peak)}  "
                  f"({total / count * 1000:.1f} ms per node; target 1,000 nodes <= 60 s, 4 GB)")
            rows.append((count, total, peak))
            shutil.rmtree(folder, ignore_errors=True)
        if len(rows) > 1:
            (n0, t0, _), (n1, t1, _) = rows[-2], rows[-1]
            print(f"  growth: {(t1 - t0) / (n1 - n0) * 1000:.1f} ms per added node between {n0} and {n1} nodes")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
