"""Waivers: loading (errors name file and line), applying with a fixed clock, selectors, scores."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import textwrap

import pytest
from test_engine import bundle, container
from tests_helpers import MINI_CONTROLS, mini_pack, write_pack

from auditor.common.errors import InputError
from auditor.judging.engine import evaluate
from auditor.judging.waivers import SCHEMA_PATH, apply_waivers, load_waivers, waivers_schema
from auditor.packs.loader import load_pack
from auditor.results.document import build_results, validate_results

DAY = dt.date(2026, 6, 30)


def write(tmp_path, text: str, name: str = "waivers.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def results_of(pack, containers) -> dict:
    evidence = bundle(containers)
    results = build_results(evidence, evaluate(evidence, [pack]))
    validate_results(results)
    return results


def control(results: dict, cid: str) -> dict:
    return next(c for c in results["controls"] if c["id"] == cid)


WAIVERS = """\
waivers:
  - control: mini:1
    subject: {name: "legacy-*"}
    reason: the legacy agents need privileges until the rewrite
    owner: alice@example.com
    ticket: SEC-42
    expires: 2026-06-30
  - control: "2"
    subject: {name: legacy-b}
    reason: memory limit tuned after the migration
    owner: bob
    expires: 2026-01-31
  - control: "3"
    reason: never matches a failure
    owner: carol
    expires: 2027-01-01
"""


def test_published_schema_matches_the_code():
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        published = json.load(fh)
    assert published == json.loads(json.dumps(waivers_schema())), "regenerate auditor/schemas/waivers.schema.json"


def test_waived_findings_stay_visible_and_scores_are_shown_both_ways(tmp_path):
    pack = mini_pack(tmp_path)
    results = results_of(pack, [container("legacy-a", privileged=True, memory=5),
                                container("legacy-b", privileged=True), container("web", memory=5)])
    before = copy.deepcopy(results)
    waived = apply_waivers(results, load_waivers(write(tmp_path, WAIVERS)), today=DAY)
    validate_results(waived)
    assert results == before  # pure: the input document is untouched
    c1 = control(waived, "1")
    assert c1["status"] == "waived" and c1["status_without_waivers"] == "fail"
    bad = [f for f in c1["findings"] if f["status"] == "fail"]
    assert [f["subject"]["name"] for f in bad] == ["legacy-a", "legacy-b"]  # still listed, still fail
    assert all(f["waived"] and f["waiver"]["ticket"] == "SEC-42" and f["waiver"]["line"] == 2 for f in bad)
    assert c1["subjects"]["waived"] == 2
    # 2 fails for legacy-b and web: its waiver expired, so it stays a failure and says so
    c2 = control(waived, "2")
    assert c2["status"] == "fail"
    legacy_b = next(f for f in c2["findings"] if f["subject"]["name"] == "legacy-b")
    assert "waived" not in legacy_b and legacy_b["expired_waiver"]["expires"] == "2026-01-31"
    w = waived["waivers"]
    assert w["today"] == "2026-06-30"
    assert [(e["control"], e["findings"], e["controls"]) for e in w["applied"]] == [("mini:1", 2, ["mini:1"])]
    assert [(e["control"], e["findings"]) for e in w["expired"]] == [("2", 1)]
    assert [e["owner"] for e in w["unused"]] == ["carol"]
    # weights: 1 high (3) waived, 2 low (1) fails; 3 (medium) not applicable
    assert waived["summary"]["score"] == 75.0 and waived["summary"]["score_without_waivers"] == 0.0
    assert results["summary"]["score"] == 0.0
    assert waived["summary"]["counts"]["waived"] == 1 and waived["summary"]["coverage"] == 100.0
    section = waived["packs"][0]["sections"][0]
    assert section["score"] == 75.0 and section["score_without_waivers"] == 0.0
    assert waived["packs"][0]["score_without_waivers"] == 0.0


def test_expiry_with_a_fixed_clock(tmp_path):
    pack = mini_pack(tmp_path)
    results = results_of(pack, [container("legacy-a", privileged=True, memory=5)])
    waivers = load_waivers(write(tmp_path, WAIVERS))
    on_the_day = apply_waivers(results, waivers, today=dt.date(2026, 6, 30))
    assert control(on_the_day, "1")["status"] == "waived"  # the expiry date is the last day it holds
    day_after = apply_waivers(results, waivers, today=dt.date(2026, 7, 1))
    c1 = control(day_after, "1")
    assert c1["status"] == "fail" and "status_without_waivers" not in c1
    assert c1["findings"][0]["expired_waiver"]["owner"] == "alice@example.com"
    assert [e["control"] for e in day_after["waivers"]["expired"]] == ["mini:1", "2"]
    assert day_after["summary"]["score"] == day_after["summary"]["score_without_waivers"] == 25.0
    validate_results(day_after)


def test_a_control_partly_waived_still_fails(tmp_path):
    pack = mini_pack(tmp_path)
    results = results_of(pack, [container("legacy-a", privileged=True), container("web", privileged=True)])
    waived = apply_waivers(results, load_waivers(write(tmp_path, WAIVERS)), today=DAY)
    c1 = control(waived, "1")
    assert c1["status"] == "fail" and c1["subjects"]["waived"] == 1
    assert [bool(f.get("waived")) for f in c1["findings"]] == [True, False]


def test_selectors_for_kubernetes_like_subjects_and_aliases(tmp_path):
    folder = write_pack(tmp_path, MINI_CONTROLS.replace('  - id: "1"\n', '  - id: "1.1"\n    aliases: ["1"]\n'))
    pack = load_pack(folder)
    web = container("shop/web", privileged=True)
    web["subject"].update(type="Deployment", kind="Deployment", namespace="shop", container="app",
                          image="registry.example/web:1.2", labels={"team": "payments", "tier": "front"})
    api = container("ops/api", privileged=True)
    api["subject"].update(type="Deployment", namespace="ops", container="api", image="registry.example/api:3",
                          labels={"team": "ops"})
    results = results_of(pack, [web, api])
    assert control(results, "1.1")["findings"][1]["subject"]["labels"] == {"team": "payments", "tier": "front"}
    cases = {
        "namespace: shop": ["shop/web"],
        "namespace: 'o*'": ["ops/api"],
        "container: app": ["shop/web"],
        "image: 'registry.example/*'": ["ops/api", "shop/web"],
        "labels: {team: payments}": ["shop/web"],
        "labels: {team: payments, tier: back}": [],
        "type: Deployment": ["ops/api", "shop/web"],
        "path: /etc/*": [],
    }
    for selector, expected in cases.items():
        path = write(tmp_path, f"""\
            waivers:
              - control: "1"
                subject: {{{selector}}}
                reason: r
                owner: o
                expires: 2030-01-01
            """)
        waived = apply_waivers(results, load_waivers(path), today=DAY)
        names = sorted(f["subject"]["name"] for f in control(waived, "1.1")["findings"] if f.get("waived"))
        assert names == expected, selector


def test_file_subjects_match_by_path(tmp_path):
    pack = mini_pack(tmp_path)
    item = container("/etc/docker/daemon.json", privileged=True)
    item["subject"] = {"type": "file", "name": "/etc/docker/daemon.json", "path": "/etc/docker/daemon.json"}
    results = results_of(pack, [item])
    path = write(tmp_path, """\
        waivers:
          - {control: "1", subject: {path: /etc/docker/*}, reason: r, owner: o, expires: 2030-01-01}
        """)
    assert control(apply_waivers(results, load_waivers(path), today=DAY), "1")["status"] == "waived"


@pytest.mark.parametrize("text,where,message", [
    ("waivers:\n  - control: '5.5'\n    reason: [unclosed\n", "line 4", "invalid YAML"),
    ("waivers:\n  - control: '5.5'\n    reason: r\n    expires: 2030-01-01\n", "line 2",
     "waiver 1: 'owner' is a required property"),
    ("waivers:\n  - control: '5.5'\n    reason: r\n    owner: o\n    expires: 2030-01-01\n"
     "  - control: '5.6'\n    reason: r\n    owner: o\n    expires: 2030-01-01\n    subjekt: {name: x}\n",
     "line 6", "waiver 2: Additional properties are not allowed ('subjekt' was unexpected)"),
    ("waivers:\n  - control: '5.5'\n    reason: r\n    owner: o\n    expires: 2030-02-30\n", "line 5",
     "invalid date 2030-02-30"),
    ("waivers:\n  - control: '5.5'\n    reason: r\n    owner: o\n    expires: '2030-02-30'\n", "line 2",
     "waiver 1 field 'expires': '2030-02-30' is not a date"),
    ("waivers:\n  - control: '5.5'\n    reason: r\n    owner: o\n    expires: soon\n", "line 2",
     "waiver 1 field 'expires': 'soon' does not match"),
    ("waivers:\n  - control: '5.5'\n    subject: {labels: {team: 3}}\n    reason: r\n    owner: o\n"
     "    expires: 2030-01-01\n", "line 3", "waiver 1 field 'subject.labels.team': 3 is not of type 'string'"),
    ("- control: '5.5'\n", "", "is not of type 'object'"),
])
def test_broken_waivers_files_name_file_and_line(tmp_path, text, where, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_waivers(path)
    text = str(err.value)
    assert text.startswith(path) and where in text and message in text and "\n" not in text


def test_applying_twice_is_refused(tmp_path):
    pack = mini_pack(tmp_path)
    results = results_of(pack, [container("a")])
    waivers = load_waivers(write(tmp_path, WAIVERS))
    with pytest.raises(InputError, match="already have waivers"):
        apply_waivers(apply_waivers(results, waivers, today=DAY), waivers, today=DAY)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_waivers(os.path.join(str(tmp_path), "nope.yaml"))


def test_framework_verdicts_follow_the_waivers(tmp_path):
    from auditor.cli import DEMO_EVIDENCE
    from auditor.evidence.bundle import load_bundle
    from auditor.packs.frameworks import packs_and_frameworks

    evidence = load_bundle(DEMO_EVIDENCE)
    packs, frameworks = packs_and_frameworks([], [])
    results = build_results(evidence, evaluate(evidence, packs), frameworks=frameworks)
    if not results.get("frameworks"):
        pytest.skip("no built-in framework")
    failing = [c for c in results["controls"] if c["status"] == "fail"]
    path = write(tmp_path, "waivers:\n" + "".join(
        f"  - {{control: '{c['pack']}:{c['id']}', reason: r, owner: o, expires: 2999-01-01}}\n" for c in failing))
    waived = apply_waivers(results, load_waivers(path), today=DAY)
    validate_results(waived)
    assert all(c["status"] != "fail" for c in waived["controls"])
    raw = {f["id"]: f["score"] for f in results["frameworks"]}
    for fw in waived["frameworks"]:
        assert fw["score_without_waivers"] == raw[fw["id"]]
        assert not any(r["status"] == "fail" for r in fw["requirements"])
    assert any(fw["counts"]["waived"] for fw in waived["frameworks"])
