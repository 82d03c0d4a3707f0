"""Every automated control is judged on its own fixtures: at least one passing and one failing."""

from __future__ import annotations

import pytest
from controlfixtures import case_evidence, case_params, fixture_files, load_fixture

from auditor.judging.engine import evaluate_control
from auditor.packs.loader import find_pack_paths, load_pack

PACKS = {pack_id: load_pack(path) for pack_id, path in find_pack_paths().items()}
FILES = fixture_files()


_WITH_PARAMS: dict[tuple[str, str], object] = {}


def _pack(pack_id: str, params: dict):
    """The pack as loaded with these parameters (as --set would), loaded once per set."""
    if not params:
        return PACKS[pack_id]
    key = (pack_id, repr(sorted(params.items())))
    if key not in _WITH_PARAMS:
        _WITH_PARAMS[key] = load_pack(find_pack_paths()[pack_id], params)
    return _WITH_PARAMS[key]


def _cases():
    for pack_id, control_id, path in FILES:
        fixture = load_fixture(path)
        for index, case in enumerate(fixture.get("cases", [])):
            yield pytest.param(pack_id, control_id, path, index,
                               id=f"{pack_id}:{control_id}:{case.get('name', index)}")


@pytest.mark.parametrize("pack_id,control_id,path,index", list(_cases()))
def test_control_case(pack_id: str, control_id: str, path: str, index: int) -> None:
    fixture = load_fixture(path)
    case = fixture["cases"][index]
    params = case_params(fixture, case)
    pack = _pack(pack_id, params)
    control = next((c for c in pack.controls if c.id == control_id), None)
    assert control is not None, f"{path}: no control {control_id} in pack {pack_id}"
    assert control.assessment == "automated", f"{path}: control {control_id} is manual"
    evidence = case_evidence(fixture, case, control.target)
    verdict = evaluate_control(control, evidence, {})
    assert verdict["status"] == case["expect"], (
        f"{control_id} / {case.get('name')}: expected {case['expect']}, got {verdict['status']}: "
        f"{verdict['reason']} {verdict['findings']}")
    if verdict["status"] == "fail":
        failing = [f for f in verdict["findings"] if f["status"] == "fail"]
        assert failing and all("observed" in f and f["expected"] for f in failing)


@pytest.mark.parametrize("pack_id", sorted(PACKS))
def test_every_automated_control_has_pass_and_fail_fixtures(pack_id: str) -> None:
    have: dict[str, set[str]] = {}
    for pid, control_id, path in FILES:
        if pid == pack_id:
            have[control_id] = {c["expect"] for c in load_fixture(path).get("cases", [])}
    missing = [c.id for c in PACKS[pack_id].controls
               if c.assessment == "automated" and not {"pass", "fail"} <= have.get(c.id, set())]
    assert not missing, f"automated controls without a passing and a failing fixture: {missing}"
    unknown = sorted(set(have) - {c.id for c in PACKS[pack_id].controls})
    assert not unknown, f"fixtures for controls the pack does not have: {unknown}"
