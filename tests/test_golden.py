"""Golden results for a whole scenario: the bundled demo evidence, recorded from a real dockerd.

Regenerate after an intended change with: AUDITOR_UPDATE_GOLDEN=1 python3 -m pytest tests/test_golden.py
"""

from __future__ import annotations

import json
import os

from auditor.cli import DEMO_EVIDENCE
from auditor.evidence.bundle import load_bundle
from auditor.judging.engine import evaluate
from auditor.packs.loader import resolve_packs
from auditor.results.document import build_results, validate_results

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "demo-results.json")


def demo_results() -> dict:
    evidence = load_bundle(DEMO_EVIDENCE)
    results = build_results(evidence, evaluate(evidence, resolve_packs(["cis-docker-1.6.0"])),
                            generated_at="(golden)")
    validate_results(results)
    return results


def test_demo_results_match_golden():
    results = demo_results()
    text = json.dumps(results, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("AUDITOR_UPDATE_GOLDEN"):
        with open(GOLDEN, "w", encoding="utf-8") as fh:
            fh.write(text)
    with open(GOLDEN, encoding="utf-8") as fh:
        golden = json.load(fh)
    assert results["auditor_version"] == golden["auditor_version"]
    # compare control by control so a difference names the control
    got = {(c["pack"], c["id"]): c for c in results["controls"]}
    want = {(c["pack"], c["id"]): c for c in golden["controls"]}
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key]["status"] == want[key]["status"], key
        assert got[key]["findings"] == want[key]["findings"], key
    assert results["packs"] == golden["packs"]
    assert results["summary"] == golden["summary"]


def test_demo_scenario_is_realistic():
    results = demo_results()
    statuses = {c["id"]: c["status"] for c in results["controls"]}
    # the demo shows every verdict kind a user meets
    assert {"pass", "fail", "not_applicable", "manual"} <= set(statuses.values())
    assert results["evidence"]["targets"]["docker.container"] >= 12
    privileged = next(c for c in results["controls"] if c["id"] == "5.5")
    assert [f["subject"]["name"] for f in privileged["findings"] if f["status"] == "fail"] == ["demo-privileged"]
