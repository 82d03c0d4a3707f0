"""Framework requirements judged from scan evidence: PCI DSS 6.3.3 and 11.3.1, NIST SP 800-190
4.1.1, SP 800-53 RA-5 and SI-2 each map scan controls with a source the framework defines, are
judged (not manual) when scans are given and fall back to a person when none are."""

from __future__ import annotations

import os
from typing import Any

import pytest

from auditor import api
from test_scans_dates import REFERENCE, _evidence

pytestmark = pytest.mark.skipif(not os.path.isdir(REFERENCE), reason="reference scans not present")
FRAMEWORKS = ["pci-dss-4.0", "nist-sp-800-190", "nist-sp-800-53-r5"]
# requirement -> the scan controls it must map (CIS Docker 4.4 is a scan control too)
EXPECTED = {
    ("pci-dss-4.0", "6.3.3"): {"vulnerability-scans:2.1", "vulnerability-scans:2.2", "vulnerability-scans:2.3",
                               "cis-docker-1.6.0:4.4"},
    ("pci-dss-4.0", "11.3.1"): {"vulnerability-scans:1.1", "vulnerability-scans:2.1", "vulnerability-scans:3.1",
                                "cis-docker-1.6.0:4.4"},
    ("nist-sp-800-190", "4.1.1"): {"vulnerability-scans:1.1", "vulnerability-scans:2.1", "vulnerability-scans:2.2",
                                   "vulnerability-scans:2.3", "cis-docker-1.6.0:4.4"},
    ("nist-sp-800-53-r5", "RA-5"): {"vulnerability-scans:1.1", "vulnerability-scans:3.1", "cis-docker-1.6.0:4.4"},
    ("nist-sp-800-53-r5", "SI-2"): {"vulnerability-scans:2.1", "vulnerability-scans:2.2", "vulnerability-scans:2.3",
                                    "cis-docker-1.6.0:4.4"},
}


def _requirements(results: dict[str, Any]) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    return {(fw["id"], req["id"]): (fw, req) for fw in results["frameworks"] for req in fw["requirements"]}


def _scan_mappings(req: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{c['pack']}:{c['id']}": c for c in req["controls"]
            if c["pack"] == "vulnerability-scans" or (c["pack"], c["id"]) == ("cis-docker-1.6.0", "4.4")}


def test_scan_requirements_map_scan_controls_each_with_a_defined_source() -> None:
    evidence = _evidence(os.path.join(REFERENCE, "trivy-debian-buster.json"))
    evidence["targets"]["scan.result"][0]["scanned_at"] = evidence["metadata"]["collected_at"]  # fresh
    reqs = _requirements(api.evaluate(evidence, api.Judging(frameworks=FRAMEWORKS)))
    for key, controls in EXPECTED.items():
        fw, req = reqs[key]
        mapped = _scan_mappings(req)
        assert set(mapped) == controls, key
        for name, control in mapped.items():
            assert control["source"] in fw["sources"], (key, name, control["source"])
            assert fw["sources"][control["source"]]["citation"], (key, name)
            assert control["status"] != "manual", (key, name)
        assert req["assessment"] == "automated"
    # the debian image's critical (published 2019, fixed in libidn2 2.0.5-1+deb10u1) is past 30 days
    for key in [("pci-dss-4.0", "6.3.3"), ("pci-dss-4.0", "11.3.1"), ("nist-sp-800-190", "4.1.1"),
                ("nist-sp-800-53-r5", "SI-2")]:
        assert reqs[key][1]["status"] == "fail", key
    assert _scan_mappings(reqs[("nist-sp-800-53-r5", "RA-5")][1])["vulnerability-scans:1.1"]["status"] == "pass"


def test_without_scans_the_scan_controls_of_those_requirements_need_a_person() -> None:
    reqs = _requirements(api.evaluate(api.load_demo(), api.Judging(frameworks=FRAMEWORKS)))
    for key in EXPECTED:
        mapped = _scan_mappings(reqs[key][1])
        assert {c["status"] for c in mapped.values()} <= {"manual", "not_assessed"}, (key, mapped)
    assert reqs[("pci-dss-4.0", "11.3.1.1")][1]["status"] == "manual"  # medium and low: a person's schedule
