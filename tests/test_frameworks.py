"""Framework packs: loading and validation, the verdict rule, golden framework results, CLI, OSCAL."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from auditor.cli import DEMO_EVIDENCE, main
from auditor.collect.collected import Collected
from auditor.common.errors import InputError
from auditor.evidence.bundle import build_bundle, load_bundle
from auditor.judging.engine import evaluate
from auditor.judging.framework_scores import REQUIREMENT_STATUSES, refresh_frameworks, requirement_verdict
from auditor.packs.frameworks import (
    PackIndex,
    find_framework_paths,
    framework_schema,
    load_framework,
    packs_and_frameworks,
    resolve_frameworks,
)
from auditor.report.oscal import control_token, oscal_schema, render_oscal, validate_oscal
from auditor.report.terminal import render_table
from auditor.results.document import build_results, validate_results

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden", "demo-frameworks.json")
GOLDEN_K8S = os.path.join(HERE, "golden", "manifests-frameworks.json")
MANIFESTS = os.path.join(HERE, "fixtures", "manifests-verdicts")
SCHEMAS = os.path.join(os.path.dirname(HERE), "auditor", "schemas")
INDEX = PackIndex()


@pytest.fixture(scope="module")
def frameworks():
    return resolve_frameworks(None, INDEX)


def _digest(results: dict) -> dict:
    """What the golden files pin: per framework, score, coverage, counts and each requirement's verdict."""
    return {fw["id"]: {"score": fw["score"], "coverage": fw["coverage"], "counts": fw["counts"],
                       "requirements": {r["id"]: [r["status"], {f"{c['pack']}:{c['id']}": c["status"]
                                                                for c in r["controls"]}]
                                        for r in fw["requirements"]}}
            for fw in results["frameworks"]}


def _check_golden(path: str, got: dict) -> None:
    if os.environ.get("AUDITOR_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(got, indent=1, sort_keys=True) + "\n")
    with open(path, encoding="utf-8") as fh:
        want = json.load(fh)
    assert sorted(got) == sorted(want)
    for fid in want:
        for rid, verdict in want[fid]["requirements"].items():
            assert got[fid]["requirements"].get(rid) == verdict, (fid, rid)
        assert {k: v for k, v in got[fid].items() if k != "requirements"} == \
               {k: v for k, v in want[fid].items() if k != "requirements"}, fid


def _demo_results(frameworks, **kwargs) -> dict:
    evidence = load_bundle(DEMO_EVIDENCE)
    # every pack the frameworks map onto, as `auditor audit --demo` evaluates (Kubernetes ones: not applicable)
    packs = [INDEX.get(pid) for pid in dict.fromkeys(p for fw in frameworks for p in fw.pack_ids())]
    return build_results(evidence, evaluate(evidence, packs), generated_at="2026-11-26T01:00:00Z",
                         frameworks=frameworks, **kwargs)


# ---------------------------------------------------------------------------------------------
# the built-in frameworks

def test_builtin_frameworks_load_and_count(frameworks):
    ids = [fw.id for fw in frameworks]
    assert ids == ["nist-sp-800-190", "nist-sp-800-53-r5", "pci-dss-4.0"]
    for fw in frameworks:
        assert len(fw.requirements) >= 20
        for req in fw.requirements:
            assert req.assessment in ("automated", "manual")  # explicit, the schema requires it
            if req.assessment == "manual":
                assert req.data.get("audit"), f"{fw.id} {req.id}: manual without what to check"
            for mapping in req.controls:
                assert mapping.source in fw.sources
    # 800-53 carries the controls the issue names
    nist53 = {r.id for r in frameworks[1].requirements}
    assert {"AC-3", "AC-6", "AC-6(10)", "AU-2", "AU-12", "CM-2", "CM-6", "CM-7", "IA-2", "SC-7", "SC-8", "SC-13",
            "SC-28", "SI-2"} <= nist53


def test_builtin_frameworks_validate_from_their_yaml():
    from auditor.packs.cache import bypass
    from auditor.packs.frameworks import PackIndex, resolve_frameworks

    with bypass():  # the files themselves against the schema, not the shipped cache of them
        parsed = resolve_frameworks(None, PackIndex())
    cached = resolve_frameworks(None, PackIndex())
    assert [(f.id, f.sha256, [(r.id, r.data, r.line) for r in f.requirements]) for f in parsed] == \
        [(f.id, f.sha256, [(r.id, r.data, r.line) for r in f.requirements]) for f in cached]


def test_judgement_sources_are_never_marked_verified(frameworks):
    for fw in frameworks:
        for sid, source in fw.sources.items():
            if source["kind"] == "judgement":
                assert source["verified"] is False, (fw.id, sid)


def test_published_framework_schema_matches_the_code():
    with open(os.path.join(SCHEMAS, "framework.schema.json"), encoding="utf-8") as fh:
        assert json.load(fh) == json.loads(json.dumps(framework_schema())), "regenerate framework.schema.json"


# ---------------------------------------------------------------------------------------------
# validation errors: one line naming file, requirement and field

def _copy_framework(tmp_path, name="pci-dss-4.0"):
    dest = tmp_path / name
    shutil.copytree(find_framework_paths()[name], dest)
    return dest


def _edit_requirements(folder, change):
    path = next((folder / "requirements").glob("*.yaml"))
    data = yaml.safe_load(path.read_text())
    change(data["requirements"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_unknown_control_id_is_rejected(tmp_path):
    folder = _copy_framework(tmp_path)
    path = _edit_requirements(folder, lambda reqs: reqs[0]["controls"][0].update(control="cis-docker-1.6.0:9.99"))
    with pytest.raises(InputError) as err:
        load_framework(str(folder), INDEX)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message and "requirement 1.2.5" in message and "controls[0].control" in message
    assert "no control '9.99'" in message


def test_unknown_pack_is_rejected(tmp_path):
    folder = _copy_framework(tmp_path)
    _edit_requirements(folder, lambda reqs: reqs[1]["controls"][0].update(control="no-such-pack:1.1"))
    with pytest.raises(InputError, match=r"requirement 1\.2\.6 field 'controls\[0\]\.control': no pack"):
        load_framework(str(folder), INDEX)


def test_duplicate_requirement_id_is_rejected(tmp_path):
    folder = _copy_framework(tmp_path)
    path = _edit_requirements(folder, lambda reqs: reqs[3].update(id=reqs[2]["id"]))
    with pytest.raises(InputError) as err:
        load_framework(str(folder), INDEX)
    message = str(err.value)
    assert str(path) in message and "requirement 1.3.1 field 'id': duplicate id" in message and "\n" not in message


def test_schema_errors_name_requirement_and_field(tmp_path):
    folder = _copy_framework(tmp_path)
    _edit_requirements(folder, lambda reqs: reqs[0].update(assesment="automated"))
    with pytest.raises(InputError, match=r"line \d+: requirement 1\.2\.5: Additional properties"):
        load_framework(str(folder), INDEX)
    folder = _copy_framework(tmp_path / "b")
    _edit_requirements(folder, lambda reqs: reqs[0]["controls"][0].update(source="hearsay"))
    with pytest.raises(InputError, match=r"controls\[0\]\.source': 'hearsay' is not a source declared"):
        load_framework(str(folder), INDEX)


def test_automated_requirement_needs_an_automated_control(tmp_path):
    folder = _copy_framework(tmp_path)
    _edit_requirements(folder, lambda reqs: reqs[0].update(controls=[{"control": "cis-docker-1.6.0:4.2",
                                                                      "source": "judgement"}]))
    with pytest.raises(InputError, match=r"requirement 1\.2\.5 field 'assessment': automated, but every mapped"):
        load_framework(str(folder), INDEX)


def test_cli_validate_reports_framework_errors(tmp_path, capsys):
    folder = _copy_framework(tmp_path)
    _edit_requirements(folder, lambda reqs: reqs[0]["controls"][0].update(control="cis-docker-1.6.0:9.99"))
    assert main(["packs", "validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "requirement 1.2.5" in err
    assert main(["packs", "validate"]) == 0
    assert "framework pci-dss-4.0 4.0.1" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# the verdict rule

@pytest.mark.parametrize("statuses,missing,expected", [
    (["pass", "fail", "error"], False, "fail"),
    (["pass", "error"], False, "error"),
    (["pass", "not_applicable"], True, "not_assessed"),
    (["fail"], True, "fail"),
    (["pass", "waived"], False, "waived"),
    (["pass", "not_applicable"], False, "pass"),
    (["not_applicable", "not_applicable"], False, "not_applicable"),
    ([], False, "manual"),
])
def test_requirement_verdict_rule(statuses, missing, expected):
    controls = {("p", str(i)): {"status": s, "assessment": "automated"} for i, s in enumerate(statuses)}
    controls[("p", "m")] = {"status": "manual", "assessment": "manual"}
    refs = [("p", str(i)) for i in range(len(statuses))] + [("p", "m")] + ([("q", "gone")] if missing else [])
    assert requirement_verdict("automated", refs, controls)[0] == expected
    assert requirement_verdict("manual", refs, controls)[0] == "manual"


# ---------------------------------------------------------------------------------------------
# golden framework results for whole scenarios

def test_demo_framework_results_match_golden(frameworks):
    results = _demo_results(frameworks)
    validate_results(results)
    for fw in results["frameworks"]:
        assert all(r["status"] in REQUIREMENT_STATUSES for r in fw["requirements"])
        assert fw["requirements_total"] == sum(fw["counts"].values())
    _check_golden(GOLDEN, _digest(results))
    # the demo's privileged container fails 800-190 4.4.3 through CIS 5.5
    r443 = next(r for r in results["frameworks"][0]["requirements"] if r["id"] == "4.4.3")
    assert r443["status"] == "fail"
    assert {"pack": "cis-docker-1.6.0", "id": "5.5"}.items() <= next(
        c for c in r443["controls"] if c["id"] == "5.5").items()


def test_manifests_framework_results_match_golden(frameworks):
    from auditor.collect.manifests import collect_manifests

    collected: Collected = collect_manifests([MANIFESTS])
    evidence = build_bundle(collected, host="fixture", collected_at="2026-03-01T00:00:00Z")
    packs = [INDEX.get(pid) for pid in ("cis-kubernetes-1.12", "pod-security-standards", "container-essentials")]
    results = build_results(evidence, evaluate(evidence, packs), generated_at="(golden)", frameworks=frameworks)
    _check_golden(GOLDEN_K8S, _digest(results))
    pci = next(fw for fw in results["frameworks"] if fw["id"] == "pci-dss-4.0")
    # only Kubernetes packs ran: requirements mapped to Docker controls too are not assessed, never passed
    assert pci["counts"]["not_assessed"] > 0


def test_unevaluated_packs_make_requirements_not_assessed(frameworks):
    evidence = load_bundle(DEMO_EVIDENCE)
    results = build_results(evidence, evaluate(evidence, [INDEX.get("container-essentials")]),
                            frameworks=frameworks)
    r = next(r for r in results["frameworks"][2]["requirements"] if r["id"] == "6.3.3")
    assert r["status"] == "fail"  # a known failure (essentials 6.1) wins over what was not evaluated
    r = next(r for r in results["frameworks"][2]["requirements"] if r["id"] == "2.2.7")
    assert r["status"] == "not_assessed" and "cis-docker-1.6.0:2.7" in r["reason"]


def test_waived_controls_flow_into_requirements(frameworks):
    results = _demo_results(frameworks)
    results["waivers"] = {}  # as apply_waivers leaves it
    for control in results["controls"]:
        if control["pack"] == "container-essentials" and control["id"] == "6.1":
            control["status"] = "waived"
    refresh_frameworks(results)
    pci = results["frameworks"][2]
    r = next(r for r in pci["requirements"] if r["id"] == "6.3.3")
    assert r["status"] == "fail"  # cis 1.2.2 still fails
    assert next(c for c in r["controls"] if c["id"] == "6.1")["status"] == "waived"
    assert "score_without_waivers" in pci


# ---------------------------------------------------------------------------------------------
# CLI and terminal

def test_cli_framework_selects_its_packs(tmp_path, capsys):
    code = main(["audit", "--demo", "--framework", "pci-dss-4.0", "--format", "table,json,oscal", "-o", str(tmp_path),
                 "--set", "container-essentials.max_container_age_days=14"])
    assert code == 0
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert [f["id"] for f in results["frameworks"]] == ["pci-dss-4.0"]
    assert {p["id"] for p in results["packs"]} == {"cis-docker-1.6.0", "container-essentials",
                                                   "cis-kubernetes-1.12", "pod-security-standards", "vulnerability-scans"}
    essentials = next(p for p in results["packs"] if p["id"] == "container-essentials")
    assert essentials["parameters"]["max_container_age_days"] == 14
    assert "pci-dss-4.0" in captured.err and "framework score" in captured.err
    oscal_files = list(tmp_path.glob("*.oscal.json"))
    assert len(oscal_files) == 1
    validate_oscal(json.loads(oscal_files[0].read_text()))


def test_cli_unknown_framework(tmp_path, capsys):
    assert main(["audit", "--demo", "--framework", "nope", "-o", str(tmp_path)]) == 2
    assert "unknown framework 'nope'" in capsys.readouterr().err


def test_terminal_lists_frameworks(frameworks):
    text = render_table(_demo_results(frameworks))
    assert "nist-sp-800-53-r5" in text and "not assessed" in text


def test_packs_and_frameworks_default_loads_every_framework():
    packs, fws = packs_and_frameworks(["container-essentials"], [])
    assert [p.id for p in packs] == ["container-essentials"] and len(fws) == 3


# ---------------------------------------------------------------------------------------------
# OSCAL

def test_oscal_validates_against_nist_schema_and_is_deterministic(frameworks):
    results = _demo_results(frameworks)
    doc = render_oscal(results)
    validate_oscal(doc)
    assert render_oscal(results) == doc
    result = doc["assessment-results"]["results"][0]
    assert result["start"] == results["evidence"]["collected_at"] and result["end"] == results["generated_at"]
    selected = {c["control-id"] for c in result["reviewed-controls"]["control-selections"][0]["include-controls"]}
    assert {"ac-6.10", "sc-7", "pci-dss-4.0-1.3.1", "nist-sp-800-190-4.4.3"} <= selected
    states = {f["target"]["target-id"]: f["target"]["status"]["state"] for f in result["findings"]}
    assert states["nist-sp-800-190-4.4.3"] == "not-satisfied"
    assert states["cis-docker-1.6.0-5.5"] == "not-satisfied"
    obs = {o["uuid"] for o in result["observations"]}
    assert all(r["observation-uuid"] in obs for f in result["findings"] for r in f.get("related-observations", []))


def test_oscal_schema_is_enforced():
    import jsonschema

    validator = jsonschema.Draft7Validator(oscal_schema())
    good = {"assessment-results": {
        "uuid": "6ba7b810-9dad-51d1-80b4-00c04fd430c8",
        "metadata": {"title": "t", "last-modified": "2026-01-01T00:00:00Z", "version": "1", "oscal-version": "1.0.6"},
        "import-ap": {"href": "#x"},
        "results": [{"uuid": "6ba7b810-9dad-51d1-80b4-00c04fd430c8", "title": "r", "description": "d",
                     "start": "2026-01-01T00:00:00Z",
                     "reviewed-controls": {"control-selections": [
                         {"include-controls": [{"control-id": "ac-6.10"}]}]}}]}}
    assert not list(validator.iter_errors(good))
    good["assessment-results"]["results"][0]["reviewed-controls"]["control-selections"][0]["include-controls"][0][
        "control-id"] = "4.4.3"  # a token may not start with a digit
    assert list(validator.iter_errors(good))


def test_control_tokens():
    assert control_token("nist-sp-800-53-r5", "AC-6(10)") == "ac-6.10"
    assert control_token("nist-sp-800-53-r5", "SC-7") == "sc-7"
    assert control_token("pci-dss-4.0", "10.2.1") == "pci-dss-4.0-10.2.1"


def test_report_command_renders_oscal(tmp_path, capsys):
    assert main(["audit", "--demo", "-o", str(tmp_path)]) == 0
    results_file = next(tmp_path.glob("*.results.json"))
    assert main(["report", str(results_file), "--format", "oscal", "-o", str(tmp_path / "r")]) == 0
    validate_oscal(json.loads(next((tmp_path / "r").glob("*.oscal.json")).read_text()))
