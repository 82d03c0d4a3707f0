"""Dates and end of life in scan evidence: a Grype report has no publication date, so the
remediation windows start from its fix-available date when it gives one and are an `error`
(never a blind pass or fail) when it gives none; the end-of-life control judges only images whose
scanner gives a verdict (Trivy's Metadata.OS.EOSL)."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest

from auditor import api
from auditor.collect.scans import collect_scans, read_scan_file

REFERENCE = "/work/shared/reference/scans"
pytestmark = pytest.mark.skipif(not os.path.isdir(REFERENCE), reason="reference scans not present")
COLLECTED = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.timezone.utc)
SCANS = ["vulnerability-scans", "cis-docker-1.6.0"]


def _grype(tmp_path: Any, available: list[dict[str, str]] | None = None, extra: list[dict[str, Any]] = ()) -> str:
    """The reference Grype report with its critical made fixable (upstream it has no fix)."""
    with open(os.path.join(REFERENCE, "grype-image.json"), encoding="utf-8") as fh:
        doc = json.load(fh)
    critical = next(m for m in doc["matches"] if m["vulnerability"]["severity"] == "Critical")
    critical["vulnerability"]["fix"] = {"versions": ["1.0.1"], "state": "fixed"}
    if available is not None:
        critical["vulnerability"]["fix"]["available"] = available
    doc["matches"].extend(extra)
    doc["descriptor"]["timestamp"] = (COLLECTED - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "grype.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def _evidence(*paths: str) -> dict[str, Any]:
    scans = collect_scans(list(paths)).targets["scan.result"]
    containers = [{"subject": {"type": "container", "name": f"c{i}", "id": f"c{i}"},
                   "inspect": {"Image": s["artifact"]["image_id"], "Config": {"Image": f"app{i}:1"},
                               "State": {"Running": True}}} for i, s in enumerate(scans)]
    return {"kind": "auditor-evidence", "schema_version": 1,
            "metadata": {"host": "h", "collected_at": COLLECTED.strftime("%Y-%m-%dT%H:%M:%SZ"), "complete": True,
                         "sources": [], "errors": [], "target_errors": {}},
            "targets": {"docker.container": containers, "docker.image": [], "scan.result": scans}}


def _controls(evidence: dict[str, Any], waivers: str | None = None) -> dict[str, dict[str, Any]]:
    results = api.evaluate(evidence, api.Judging(packs=SCANS, waivers=waivers))
    return {f"{c['pack']}:{c['id']}": c for c in results["controls"]}


def _day(days_before: int) -> str:
    return (COLLECTED - dt.timedelta(days=days_before)).strftime("%Y-%m-%d")


def test_an_undated_fixable_critical_is_an_error_naming_it(tmp_path: Any) -> None:
    item = read_scan_file(_grype(tmp_path))[0]
    assert item["fixable_undated"]["critical"] == 1 and item["fixable_undated_ids"]["critical"] == ["CVE-1999-0002"]
    assert item["oldest_fixable"]["critical"] is None
    controls = _controls(_evidence(_grype(tmp_path)))
    for key in ("vulnerability-scans:2.1", "cis-docker-1.6.0:4.4"):
        control = controls[key]
        assert control["status"] == "error", key
        message = control["findings"][0]["message"]
        assert "CVE-1999-0002" in message and "no publication or fix date in the grype report" in message
        assert "\n" not in message
    assert controls["vulnerability-scans:2.2"]["status"] == "pass"  # no fixable high at all


def test_grype_fix_available_dates_start_the_window(tmp_path: Any) -> None:
    recent = [{"version": "1.0.1", "date": _day(5), "kind": "first-observed"}]
    item = read_scan_file(_grype(tmp_path, recent))[0]
    assert item["oldest_fixable"]["critical"] == {"id": "CVE-1999-0002", "package": "package-2",
                                                  "published": _day(5) + "T00:00:00Z", "date_kind": "fix_available"}
    assert item["fixable_undated"]["critical"] == 0
    assert _controls(_evidence(_grype(tmp_path, recent)))["vulnerability-scans:2.1"]["status"] == "pass"
    # two fixed versions: the window starts at the earliest day a fix was seen
    old = [{"version": "1.0.9", "date": _day(10), "kind": "advisory"},
           {"version": "1.0.1", "date": _day(45), "kind": "first-observed"}]
    controls = _controls(_evidence(_grype(tmp_path, old)))
    assert controls["vulnerability-scans:2.1"]["status"] == "fail"
    assert controls["cis-docker-1.6.0:4.4"]["status"] == "fail"


def test_a_dated_critical_past_the_window_fails_beside_an_undated_one(tmp_path: Any) -> None:
    dated = {"vulnerability": {"id": "CVE-2020-9999", "severity": "Critical",
                               "fix": {"versions": ["2.0"], "state": "fixed",
                                       "available": [{"version": "2.0", "date": _day(400), "kind": "first-observed"}]}},
             "artifact": {"name": "package-9", "version": "1.0"}}
    control = _controls(_evidence(_grype(tmp_path, extra=[dated])))["vulnerability-scans:2.1"]
    assert control["status"] == "fail"  # the undated one cannot excuse the one known to be late


def test_a_waiver_on_the_undated_vulnerability_clears_the_error(tmp_path: Any) -> None:
    waivers = tmp_path / "waivers.yaml"
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waivers.write_text(f"""waivers:
  - vulnerability: CVE-1999-0002
    reason: checked by hand, the affected function is never called
    owner: sec@example.com
    expires: {expires}
""", encoding="utf-8")
    controls = _controls(_evidence(_grype(tmp_path)), str(waivers))
    assert controls["vulnerability-scans:2.1"]["status"] == "pass"


def test_end_of_life_is_judged_only_where_the_scanner_gives_a_verdict(tmp_path: Any) -> None:
    grype = read_scan_file(_grype(tmp_path))[0]
    assert grype["os"] == {"family": "centos", "name": "8.0", "eosl": None}  # Grype says nothing of EOL
    only_grype = _controls(_evidence(_grype(tmp_path)))["vulnerability-scans:2.3"]
    assert only_grype["status"] == "not_applicable"
    alpine = os.path.join(REFERENCE, "trivy-alpine-310.json")   # Trivy: alpine 3.10 is EOSL
    debian = os.path.join(REFERENCE, "trivy-debian-buster.json")
    control = _controls(_evidence(_grype(tmp_path), alpine, debian))["vulnerability-scans:2.3"]
    statuses = sorted(f["status"] for f in control["findings"])
    assert control["status"] == "fail" and statuses == ["fail", "pass"]  # the Grype image not judged


def test_the_windows_are_parameters(tmp_path: Any) -> None:
    high = {"vulnerability": {"id": "CVE-2026-1234", "severity": "High",
                              "fix": {"versions": ["2.0"], "state": "fixed",
                                      "available": [{"version": "2.0", "date": _day(60), "kind": "first-observed"}]}},
            "artifact": {"name": "package-7", "version": "1.0"}}
    recent = [{"version": "1.0.1", "date": _day(20), "kind": "first-observed"}]
    evidence = _evidence(_grype(tmp_path, recent, extra=[high]))

    def status(cid: str, params: dict[str, Any]) -> str:
        results = api.evaluate(evidence, api.Judging(packs=["vulnerability-scans"], params=params))
        return next(c["status"] for c in results["controls"] if c["id"] == cid)

    assert status("2.2", {}) == "pass" and status("2.1", {}) == "pass"   # 60 <= 90 days, 20 <= 30
    tight = {"vulnerability-scans": {"high_window_days": 30, "critical_window_days": 14}}
    assert status("2.2", tight) == "fail" and status("2.1", tight) == "fail"
