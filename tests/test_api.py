"""The audit API (auditor.api): the same run as the command line, from Python, without argv."""

from __future__ import annotations

import json
import os

import pytest

import auditor
from auditor import api
from auditor.cli import main
from auditor.common.errors import ExitCode, InputError
from auditor.results.document import expand_results

MANIFESTS = os.path.join(os.path.dirname(__file__), "fixtures", "manifests")


def test_root_names_the_api_lazily():
    assert auditor.audit is api.audit and auditor.Sources is api.Sources
    with pytest.raises(AttributeError):
        auditor.no_such_name  # noqa: B018


def test_demo_audit_gives_the_same_results_as_the_command_line(tmp_path, capsys):
    outcome = api.audit(outputs=api.Outputs(output_dir=str(tmp_path / "api"), html=False, pdf=False), demo=True)
    assert main(["audit", "--demo", "--no-html", "--no-pdf", "-o", str(tmp_path / "cli")]) == ExitCode.SUCCESS
    capsys.readouterr()
    (cli_file,) = (tmp_path / "cli").glob("*.results.json")
    cli = expand_results(json.loads(cli_file.read_text()))
    assert outcome.exit_code == ExitCode.SUCCESS and outcome.breaches == []
    assert outcome.written.evidence is None and outcome.written.reports == []
    with open(outcome.written.results, encoding="utf-8") as fh:
        assert expand_results(json.load(fh)) == outcome.results
    for key in ("summary", "packs", "controls"):
        assert outcome.results[key] == cli[key]


def test_gates_are_decided_and_reported_not_printed(tmp_path, capsys):
    outcome = api.audit(judging=api.Judging(fail_on="critical"), demo=True,
                        outputs=api.Outputs(output_dir=str(tmp_path), html=False, pdf=False))
    assert outcome.exit_code == ExitCode.GATE_BREACHED
    assert outcome.breaches and outcome.warnings[0].startswith("gate breached: ")
    assert capsys.readouterr() == ("", "")


def test_collect_then_evaluate_manifests_with_a_selection():
    evidence, label = api.collect(api.Sources(targets=["manifests"], manifests=[MANIFESTS]))
    assert label == "manifests" and evidence["targets"]
    results = api.evaluate(evidence, api.Judging(packs=["pod-security-standards"], sections=["baseline"]))
    controls = results["controls"]
    assert controls and {c["pack"] for c in controls} == {"pod-security-standards"}
    assert {c["section"] for c in controls} == {"baseline"}
    assert any(c["status"] == "fail" for c in controls)  # the fixture folder breaks baseline controls


def test_bad_input_fails_before_collection(tmp_path):
    with pytest.raises(InputError, match="--fail-on-regression needs --baseline"):
        api.prepare(api.Judging(fail_on_regression=True))
    with pytest.raises(InputError, match="unknown target"):
        api.collect(api.Sources(targets=["mainframe"]))
    with pytest.raises(InputError, match="not a directory"):
        api.collect(api.Sources(targets=["node"], root=str(tmp_path / "missing")))
