#!/usr/bin/env python3
"""Benchmark: the run a user makes (`auditor audit`, which writes the HTML and the PDF) beside the
core run (`--no-html --no-pdf`), one fresh process launch each, with the ratios the targets use.

Prints figures; asserts nothing (targets are checked by a person, not by a timed unit test):

* docker: a real dockerd with 65 running busybox containers (`auditor audit`, as the README shows
  it: every source tried; target <= 2.5 s). Containers carry the label auditor-bench=1 and are
  removed at the end;
* folder: 8 manifest files holding 272 objects (operator-style bundles: CRDs with their schemas,
  RBAC, workloads; about 3.5 MB of YAML), `auditor audit --manifests DIR`: target <= 2.5 s and
  <= 6x a bare PyYAML CSafeLoader parse of the same files (as a process, start-up in both);
* dump: the 43k-object cluster dump of /work/shared/bench/make_cluster.py (or --dump FILE),
  `auditor audit --manifests FILE`: targets <= 6x a bare `json.load` in time, <= 1.5x its peak
  memory; HTML <= 5 MB, PDF <= 80 pages, results <= 15 MB; headless Chromium loads the HTML and
  runs its filter in < 2 s;
* demo: `auditor audit --demo` (bundled evidence), held to the Docker host's 2.5 s;
* cli: `auditor --help` and `auditor packs list`, target <= 0.3 s each.

Memory: "peak" is the highest memory of the process tree of the run: the proportional set sizes
(PSS: a page shared by two processes counts half in each) of the auditor and of any process it
started, summed, sampled every 10 ms, so a helper process can hide no memory and a forked child's
shared pages are not counted twice; "largest process" is the kernel's peak resident size of the
largest single process (ru_maxrss). The peak printed is the larger of the two. The process
tree's peak is the honest measure of what a run costs a machine (the PDF helper's memory is paid
at the same time as the run's own); the largest process alone is printed beside it. Sampling
slows the sampled processes (see run_measured), so times come from unsampled runs and the process
tree's peak from one more, sampled, run of the same command.

Python's bytecode: this sandbox sets PYTHONDONTWRITEBYTECODE=1, so every run would compile the
auditor's modules from source, which no installed program does (pip compiles them at install).
The runs here drop that variable and start with one warm-up run, so modules load as installed.

Usage: python3 tests/perf/bench_default_run.py [--only docker,demo,folder,dump,cli] [--repeat 3]
       [--containers 65] [--dump FILE] [--keep DIR]
Each figure is the median of --repeat runs; the dump prints the best and the median of --repeat
runs of each (default and core runs interleaved), against the best bare json.load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
sys.path.insert(0, REPO)
sys.path.insert(0, TESTS)
from cluster_dump import make_dump  # noqa: E402

# A small helper started first spawns and measures every run: the benchmark itself may hold a lot
# of memory, and a child's ru_maxrss counts its parent's pages up to exec. The helper samples the
# summed PSS of the run's process tree (the auditor and its helpers) from /proc.
_SPAWNER = r"""
import json, os, subprocess, sys, time

def rollup(pid):
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        fields = dict(l.split()[:2] for l in fh if l[:4] in ("Rss:", "Pss:"))
    return int(fields["Rss:"]), int(fields["Pss:"])

def tree_pss(root):
    # A child that shares its parent's address space (vfork, before its exec) shows the parent's
    # figures: counted once.
    pids, seen, total = [(root, None)], set(), 0
    while pids:
        pid, parent = pids.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            mine = rollup(pid)
            if mine != parent:
                total += mine[1]
            with open(f"/proc/{pid}/task/{pid}/children") as fh:
                pids += [(int(p), mine) for p in fh.read().split()]
        except (OSError, ValueError, KeyError):
            pass
    return total * 1024

for line in sys.stdin:
    cmd, sample = json.loads(line)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, 0 if not sample else os.WNOHANG)
        if pid:
            break
        peak = max(peak, tree_pss(proc.pid))
        time.sleep(0.01)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    print(json.dumps([wall, usage.ru_maxrss * 1024, max(peak, usage.ru_maxrss * 1024),
                      os.waitstatus_to_exitcode(status), err[-2000:], usage.ru_utime + usage.ru_stime]), flush=True)
"""
_spawner: subprocess.Popen | None = None


def run_measured(cmd: list[str], sample: bool = True) -> dict[str, Any]:
    """Wall seconds, peak bytes of the process tree and of its largest process, exit code, CPU
    seconds (user and system, of the run and of the helpers it waited for).

    ``sample``: the process tree's memory is sampled every 10 ms. Reading a process's
    smaps_rollup takes that process's memory-map lock, which stalls it while it faults pages in:
    with the run and its two PDF processes sampled, a 2.5 s run took 0.4 to 0.5 s longer. Timed
    runs are therefore not sampled (peak is then the largest process's), and the process tree's
    peak comes from a separate sampled run (:func:`measured`)."""
    global _spawner
    if _spawner is None:
        _spawner = subprocess.Popen([sys.executable, "-c", _SPAWNER], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
    assert _spawner.stdin is not None and _spawner.stdout is not None
    _spawner.stdin.write(json.dumps([cmd, sample]) + "\n")
    _spawner.stdin.flush()
    wall, maxrss, peak, code, err, cpu = json.loads(_spawner.stdout.readline())
    if code not in (0, 1, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {err.strip()}")
    return {"wall": wall, "maxrss": maxrss, "peak": peak, "code": code, "cpu": cpu}


def measured(cmd: list[str], repeat: int, pick=statistics.median) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """``repeat`` timed runs (wall: ``pick`` of them) and one sampled run for the process tree's peak."""
    runs = [run_measured(cmd, sample=False) for _ in range(repeat)]
    sampled = run_measured(cmd)
    return {k: pick([r[k] for r in runs]) for k in ("wall", "maxrss")} | \
        {"peak": sampled["peak"], "code": runs[-1]["code"]}


def mib(n: float) -> str:
    return f"{n / 2**20:5.0f} MiB"


def auditor(*args: str) -> list[str]:
    return [sys.executable, "-m", "auditor", *args]


CORE = ("--no-html", "--no-pdf")


def side_by_side(label: str, args: list[str], out: str, repeat: int, pick=statistics.median) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """The default run and the core run of ``auditor audit ARGS``; prints both."""
    shutil.rmtree(out, ignore_errors=True)
    default = measured(auditor("audit", *args, "-o", out), repeat, pick)
    core = measured(auditor("audit", *args, "-o", out + "-core", *CORE), repeat, pick)
    shutil.rmtree(out + "-core", ignore_errors=True)
    for name, r in (("default run (results, HTML, PDF)", default), ("core run (--no-html --no-pdf)", core)):
        print(f"  {label} {name:34s} {r['wall']:6.2f} s  peak {mib(r['peak'])} (largest process {mib(r['maxrss'])})")
    print(f"  {label} reports' cost on the wall clock    {default['wall'] - core['wall']:6.2f} s  "
          f"(default {default['wall'] / core['wall']:.2f}x core)")
    return default, core


def report_files(out: str) -> dict[str, str]:
    found = {}
    for name in sorted(os.listdir(out)):
        for ext in (".results.json", ".evidence.json", ".html", ".pdf"):
            if name.endswith(ext):
                found[ext] = os.path.join(out, name)
    return found


def pdf_pages(path: str) -> int | str:
    try:
        info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "? (pdfinfo missing)"
    return next((int(line.split()[1]) for line in info.splitlines() if line.startswith("Pages:")), "?")


def print_files(out: str) -> dict[str, str]:
    files = report_files(out)
    for ext, path in files.items():
        extra = f", {pdf_pages(path)} pages" if ext == ".pdf" else ""
        print(f"    {ext[1:]:14s} {os.path.getsize(path) / 1e6:7.2f} MB{extra}")
    return files


# ---------------------------------------------------------------------------------------------
# the workloads

def bench_docker(args: argparse.Namespace, work: str) -> None:
    import docker
    import dockerd
    from bench_docker_audit import remove_all, start_containers

    host = os.environ.get("DOCKER_HOST", dockerd.SYSTEM_HOST)
    dockerd.ensure_busybox(host)
    api = docker.APIClient(base_url=host)
    remove_all(api)
    try:
        start_containers(api, args.containers)
        running = len(api.containers())
        print(f"docker: {running} running containers (image {dockerd.BUSYBOX_IMAGE}); "
              "`auditor audit` as the README shows it (every source tried)")
        out = os.path.join(work, "docker")
        run_measured(auditor("audit", "-o", out + "-warm", *CORE))  # warm-up (bytecode, page cache)
        shutil.rmtree(out + "-warm", ignore_errors=True)
        default, _ = side_by_side("docker", [], out, args.repeat)
        print(f"    default run target <= 2.5 s: {'met' if default['wall'] <= 2.5 else 'NOT met'}")
        print_files(out)
    finally:
        remove_all(api)


def manifest_bundles(folder: str) -> int:
    """8 YAML files, 272 objects, as operator and platform bundles ship them: CustomResourceDefinitions
    with their OpenAPI schemas (most of the bytes), RBAC, workloads with services and config."""
    import yaml

    def schema(depth: int, width: int, seed: int) -> dict[str, Any]:
        if depth == 0:
            kinds = ["string", "integer", "boolean"]
            return {"type": kinds[seed % 3], "description": f"Field {seed} of the resource; set by the "
                    "operator when the controller reconciles the object and read back by its clients."}
        return {"type": "object", "description": f"Group {seed} of settings.",
                "properties": {f"field{seed}x{i}": schema(depth - 1, width, seed * 7 + i) for i in range(width)}}

    meta_n = [0]

    def meta(name: str, ns: str | None) -> dict[str, Any]:
        meta_n[0] += 1
        m: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": name.split("-")[0],
                                                     "app.kubernetes.io/part-of": "platform",
                                                     "app.kubernetes.io/version": f"1.{meta_n[0] % 9}.0"}}
        if ns:
            m["namespace"] = ns
        return m

    def workload(kind: str, name: str, ns: str, n: int) -> dict[str, Any]:
        secure = n % 3 != 0
        ctx = ({"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
               if secure else {"runAsUser": 0})
        pod = {"serviceAccountName": name, "containers": [{
            "name": name, "image": f"registry.example.com/platform/{name}:v1.{n}.0",
            "args": ["--leader-elect", f"--metrics-bind-address=:{8080 + n % 10}"],
            "ports": [{"containerPort": 8080 + n % 10, "name": "metrics"}],
            "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}} if secure else {},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8081}},
            "securityContext": ctx}]}
        spec: dict[str, Any] = {"selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                                "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}, "spec": pod}}
        if kind != "DaemonSet":
            spec["replicas"] = 2
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta(name, ns), "spec": spec}

    total = 0
    for f in range(8):
        ns = f"platform-{f}"
        docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, None)}]
        for c in range(4):  # 4 CRDs a file
            plural = f"widget{f}{c}s"
            docs.append({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                         "metadata": meta(f"{plural}.platform{f}.example.com", None),
                         "spec": {"group": f"platform{f}.example.com", "scope": "Namespaced",
                                  "names": {"kind": f"Widget{f}{c}", "plural": plural},
                                  "versions": [{"name": "v1", "served": True, "storage": True,
                                                "schema": {"openAPIV3Schema": schema(3, 7, f * 10 + c)}}]}})
        for w in range(6):  # 6 workloads a file, with what goes with them
            name = f"ctl{f}{w}"
            docs.append(workload(("Deployment", "Deployment", "StatefulSet", "DaemonSet", "Deployment",
                                  "Deployment")[w], name, ns, f * 6 + w))
            docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, ns)})
            docs.append({"apiVersion": "v1", "kind": "Service", "metadata": meta(name, ns),
                         "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": [{"port": 8080}]}})
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(f"{name}-config", ns),
                         "data": {"config.yaml": "".join(f"option{k}: value{k}\n" for k in range(40))}})
        for r in range(2):  # cluster RBAC
            docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                         "metadata": meta(f"platform{f}-role{r}", None),
                         "rules": [{"apiGroups": [f"platform{f}.example.com"], "resources": ["*"],
                                    "verbs": ["get", "list", "watch", "update"]},
                                   {"apiGroups": [""], "resources": ["secrets"] if r else ["configmaps"],
                                    "verbs": ["get", "list"]}]})
            docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                         "metadata": meta(f"platform{f}-role{r}", None),
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                     "name": f"platform{f}-role{r}"},
                         "subjects": [{"kind": "ServiceAccount", "name": f"ctl{f}0", "namespace": ns}]})
        docs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": meta("default-deny", ns), "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
        total += len(docs)
        with open(os.path.join(folder, f"{f}-platform-{f}.yaml"), "w", encoding="utf-8") as fh:
            fh.write(f"# platform bundle {f}: rendered by the release pipeline\n")
            yaml.safe_dump_all(docs, fh, sort_keys=False, default_flow_style=False, explicit_start=True)
    return total


def bench_folder(args: argparse.Namespace, work: str) -> None:
    folder = os.path.join(work, "bundles")
    os.makedirs(folder, exist_ok=True)
    objects = manifest_bundles(folder)
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    size = sum(os.path.getsize(f) for f in files)
    print(f"folder: {len(files)} files, {objects} objects, {size / 1e6:.2f} MB YAML")
    bare = ("import glob, yaml\n"
            f"for f in sorted(glob.glob({os.path.join(folder, '*.yaml')!r})):\n"
            "    with open(f, encoding='utf-8') as fh:\n"
            "        list(yaml.load_all(fh.read(), Loader=yaml.CSafeLoader))\n")
    out = os.path.join(work, "folder")
    run_measured(auditor("audit", "--manifests", folder, "-o", out + "-warm", *CORE))
    shutil.rmtree(out + "-warm", ignore_errors=True)
    t_bare = measured([sys.executable, "-c", bare], args.repeat)
    print(f"  bare CSafeLoader parse (process)                  {t_bare['wall']:6.2f} s  "
          f"peak {mib(t_bare['peak'])}")
    default, core = side_by_side("folder", ["--manifests", folder], out, args.repeat)
    print(f"    default {default['wall'] / t_bare['wall']:.2f}x the bare parse (target <= 6x), "
          f"core {core['wall'] / t_bare['wall']:.2f}x; default target <= 2.5 s: "
          f"{'met' if default['wall'] <= 2.5 else 'NOT met'}")
    print_files(out)


def bench_dump(args: argparse.Namespace, work: str) -> None:
    dump = args.dump
    if not dump:
        dump = os.path.join(work, "cluster.json")
        make_dump(dump, quiet=True)
    with open(dump, encoding="utf-8") as fh:
        objects = len(json.load(fh)["items"])
    print(f"dump: {objects} objects, {os.path.getsize(dump) / 1e6:.1f} MB ({dump})")
    bare = [run_measured([sys.executable, "-c", f"import json; json.load(open({dump!r}))"], sample=False)
            for _ in range(max(args.repeat, 3))]  # one process: its peak is its ru_maxrss
    t_json = {"wall": min(r["wall"] for r in bare), "peak": min(r["peak"] for r in bare),
              "cpu": min(r["cpu"] for r in bare)}
    print(f"  bare json.load (process)   best {t_json['wall']:5.2f} s, median "
          f"{statistics.median(r['wall'] for r in bare):5.2f} s; peak {mib(t_json['peak'])}")
    out = os.path.join(work, "dump")
    shutil.rmtree(out, ignore_errors=True)
    runs: dict[str, list[dict[str, Any]]] = {"default": [], "core": []}
    sampled: dict[str, list[dict[str, Any]]] = {"default": [], "core": []}
    for _ in range(args.repeat):  # interleaved, so a burst of load on the machine hits both alike
        runs["default"].append(run_measured(auditor("audit", "--manifests", dump, "-o", out), sample=False))
        runs["core"].append(run_measured(auditor("audit", "--manifests", dump, "-o", out + "-core", *CORE),
                                         sample=False))
    sampled["default"].append(run_measured(auditor("audit", "--manifests", dump, "-o", out)))
    sampled["core"].append(run_measured(auditor("audit", "--manifests", dump, "-o", out + "-core", *CORE)))
    shutil.rmtree(out + "-core", ignore_errors=True)
    for name, label in (("default", "default run (results, HTML, PDF)"), ("core", "core run (--no-html --no-pdf)")):
        walls = sorted(r["wall"] for r in runs[name])
        peaks = sorted(r["peak"] for r in sampled[name])
        largest = sorted(r["maxrss"] for r in runs[name])
        best, median = walls[0], statistics.median(walls)
        cpu = min(r["cpu"] for r in runs[name])
        print(f"  dump {label}: best {best:5.2f} s = {best / t_json['wall']:.2f}x json.load, median {median:5.2f} s "
              f"= {median / t_json['wall']:.2f}x (target <= 6x; {len(walls)} runs); CPU {cpu:.2f} s "
              f"= {cpu / t_json['cpu']:.2f}x json.load's (less sensitive to other load on the machine)")
        print(f"    peak memory of the process tree (summed PSS of the run and its helpers, sampled every 10 ms"
              f" in a separate run):"
              f" {mib(peaks[0])} to {mib(peaks[-1])} = {peaks[0] / t_json['peak']:.2f}x to "
              f"{peaks[-1] / t_json['peak']:.2f}x json.load's (target <= 1.5x); largest single process "
              f"{mib(largest[-1])} = {largest[-1] / t_json['peak']:.2f}x")
    files = print_files(out)
    print("    targets: HTML <= 5 MB, PDF <= 80 pages, results <= 15 MB")
    if ".html" in files:
        chromium_filter(files[".html"], files[".results.json"])


def chromium_filter(html: str, results: str) -> None:
    """Headless Chromium: time to load the HTML, then to filter it by a listed failing subject's name."""
    from auditor.report.subjects_view import HTML_SUBJECTS, select_subjects
    from auditor.results.document import load_results

    doc = load_results(results)
    failing = next(c for c in doc["controls"] if c["status"] == "fail" and c["findings"])
    name = select_subjects(failing["findings"], failing["subjects"], HTML_SUBJECTS).listed[-1]["subject"]["name"]
    with chromium() as browser:
        if browser is None:
            print("    chromium: not installed, not measured")
            return
        start = time.perf_counter()
        browser.open("file://" + html)
        t_load = time.perf_counter() - start
        start = time.perf_counter()
        shown = browser.js("(() => { const q = document.querySelector('input[name=q]'); "
                           f"q.value = {json.dumps(name)}; q.dispatchEvent(new Event('input', {{bubbles: true}}));"
                           "return [...document.querySelectorAll('tr[data-filter-item]')].filter(r => !r.hidden)"
                           ".map(r => r.querySelector('a').textContent); })()")
        t_filter = time.perf_counter() - start
    found = failing["id"] in shown
    print(f"    chromium: load {t_load:.2f} s, filter by {name!r} {t_filter:.3f} s -> {len(shown)} controls shown"
          f"{'' if found else ' (NOT the control listing it)'}; together {t_load + t_filter:.2f} s (target < 2 s)")


@contextlib.contextmanager
def chromium():  # type: ignore[no-untyped-def]
    """A headless Chromium page (tests/test_report_browser.py drives it the same way), or None."""
    from test_report_browser import CHROMIUM, Browser, _free_port

    if not CHROMIUM:
        yield None
        return
    profile = tempfile.mkdtemp(prefix="auditor-bench-chromium-")
    port = _free_port()
    proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
                             f"--remote-debugging-port={port}", "--window-size=1280,900", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        deadline, targets = time.monotonic() + 30, []
        while time.monotonic() < deadline and not targets:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
            except OSError:
                time.sleep(0.2)
        if not targets:
            raise SystemExit("chromium did not open its DevTools port")
        browser = Browser(targets[0]["webSocketDebuggerUrl"])
        browser.call("Page.enable")
        browser.call("Runtime.enable")
        yield browser
        browser.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def bench_demo(args: argparse.Namespace, work: str) -> None:
    """`auditor audit --demo`, the README's first command (bundled evidence: no collection)."""
    print("demo: `auditor audit --demo` (the bundled evidence of a Docker 20.10 host, two dozen containers)")
    out = os.path.join(work, "demo")
    run_measured(auditor("audit", "--demo", "-o", out + "-warm", *CORE))
    shutil.rmtree(out + "-warm", ignore_errors=True)
    default, _ = side_by_side("demo", ["--demo"], out, args.repeat)
    print(f"    default run target <= 2.5 s (as a Docker host's): {'met' if default['wall'] <= 2.5 else 'NOT met'}")
    print_files(out)


def bench_cli(args: argparse.Namespace, work: str) -> None:
    print("cli:")
    for cmd in (["--help"], ["packs", "list"]):
        run_measured(auditor(*cmd))
        r = measured(auditor(*cmd), max(args.repeat, 5))
        print(f"  auditor {' '.join(cmd):30s} {r['wall']:6.3f} s  peak {mib(r['peak'])}   (target <= 0.3 s)")
    r = measured([sys.executable, "-c", "pass"], max(args.repeat, 5))
    print(f"  python3 -c pass (interpreter start-up)   {r['wall']:6.3f} s")


WORKLOADS = {"cli": bench_cli, "docker": bench_docker, "demo": bench_demo, "folder": bench_folder, "dump": bench_dump}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma list of " + ",".join(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--containers", type=int, default=65)
    parser.add_argument("--dump", metavar="FILE", help="cluster dump to use (default: generate it)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep what is written")
    args = parser.parse_args()
    chosen = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}")
    work = args.keep or tempfile.mkdtemp(prefix="auditor-bench-default-")
    os.makedirs(work, exist_ok=True)
    os.environ["PYTHONPATH"] = REPO + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # see the module docstring
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with open("/proc/loadavg", encoding="ascii") as fh:
        load = " ".join(fh.read().split()[:3])
    print(f"machine: {os.cpu_count()} cores ({cpus} usable), load average {load}; python {sys.version.split()[0]}; "
          f"auditor from {REPO}")
    run_measured([sys.executable, "-c", "pass"])  # starts the spawner while this process is small
    try:
        for name in chosen:
            WORKLOADS[name](args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
