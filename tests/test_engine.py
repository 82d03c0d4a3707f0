"""Engine, scores and the results document on small hand-made evidence."""

from __future__ import annotations

import copy
import json

import pytest
from tests_helpers import mini_pack

from auditor.collect.collected import Collected
from auditor.common.errors import InputError
from auditor.evidence.bundle import build_bundle
from auditor.judging.engine import Selection, evaluate
from auditor.results.document import build_results, validate_results


def bundle(containers, target_errors=None, daemon=None):
    collected = Collected()
    for c in containers:
        collected.add("docker.container", c)
    if daemon is not None:
        collected.add("docker.daemon", daemon)
    for target, message in (target_errors or {}).items():
        collected.error("docker.api", message, targets=(target,))
    return build_bundle(collected, host="h", collected_at="2026-01-01T00:00:00Z")


def container(name, privileged=False, memory=0):
    return {"subject": {"type": "container", "name": name, "id": name[:3]},
            "inspect": {"HostConfig": {"Privileged": privileged, "Memory": memory}}}


def test_verdicts_scores_and_coverage(tmp_path):
    pack = mini_pack(tmp_path)
    evidence = bundle([container("a"), container("b", privileged=True, memory=5)])
    results = build_results(evidence, evaluate(evidence, [pack]))
    validate_results(results)
    by_id = {c["id"]: c for c in results["controls"]}
    assert by_id["1"]["status"] == "fail"            # b is privileged
    assert by_id["1"]["subjects"] == {"total": 2, "pass": 1, "fail": 1, "error": 0}
    bad = [f for f in by_id["1"]["findings"] if f["status"] == "fail"]
    assert bad[0]["subject"]["name"] == "b" and bad[0]["observed"] is True
    assert by_id["2"]["status"] == "fail"            # a has no memory limit
    assert by_id["3"]["status"] == "not_applicable"  # only running containers, none here
    assert by_id["4"]["status"] == "manual"
    # weights: 1 is high (3), 2 is low (1): both fail -> score 0; coverage 3/3 automated reached
    assert results["summary"]["score"] == 0.0
    assert results["summary"]["coverage"] == 100.0
    evidence = bundle([container("a", memory=5)])
    results = build_results(evidence, evaluate(evidence, [pack]))
    assert results["summary"]["score"] == 100.0
    evidence = bundle([container("a", memory=0)])
    results = build_results(evidence, evaluate(evidence, [pack]))
    assert results["summary"]["score"] == 75.0       # 3 / (3 + 1)
    assert results["packs"][0]["sections"][0]["score"] == 75.0


def test_uncollected_target_is_error_not_pass(tmp_path):
    pack = mini_pack(tmp_path)
    evidence = bundle([], target_errors={"docker.container": "cannot connect to unix:///nope.sock"})
    results = build_results(evidence, evaluate(evidence, [pack]))
    statuses = {c["id"]: c["status"] for c in results["controls"]}
    assert statuses == {"1": "error", "2": "error", "3": "error", "4": "manual"}
    assert "nope.sock" in results["controls"][0]["reason"]
    assert results["summary"]["score"] is None and results["summary"]["coverage"] == 0.0
    assert results["evidence"]["complete"] is False


def test_a_broken_item_gives_error_for_that_subject_only(tmp_path):
    pack = mini_pack(tmp_path)
    broken = container("x")
    broken["errors"] = {"inspect": "inspect failed: 500 Server Error"}
    evidence = bundle([container("a"), broken, "not an item"])  # type: ignore[list-item]
    results = build_results(evidence, evaluate(evidence, [pack]))
    c1 = results["controls"][0]
    assert c1["status"] == "error"
    assert [f["status"] for f in c1["findings"]] == ["pass", "error"]
    assert "500" in c1["findings"][1]["message"]


def test_selection_by_section_control_and_level(tmp_path):
    pack = mini_pack(tmp_path)
    evidence = bundle([container("a")])
    ids = lambda sel: [c.id for _, vs in evaluate(evidence, [pack], sel) for c, _ in vs]  # noqa: E731
    assert ids(Selection(controls=["2"])) == ["2"]
    assert ids(Selection(controls=["mini:3"])) == ["3"]
    assert ids(Selection(level=1)) == ["1", "2", "4"]
    assert ids(Selection(sections=["9"])) == ["1", "2", "3", "4"]
    assert ids(Selection(sections=["8"])) == []


def test_results_are_deterministic(tmp_path):
    pack = mini_pack(tmp_path)
    evidence = bundle([container("b", privileged=True), container("a")])
    one = build_results(evidence, evaluate(evidence, [pack]), generated_at="t")
    two = build_results(copy.deepcopy(evidence), evaluate(evidence, [pack]), generated_at="t")
    assert json.dumps(one) == json.dumps(two)
    names = [f["subject"]["name"] for f in one["controls"][0]["findings"]]
    assert names == sorted(names)


def test_validate_results_rejects_other_versions_and_broken_docs(tmp_path):
    pack = mini_pack(tmp_path)
    evidence = bundle([container("a")])
    results = build_results(evidence, evaluate(evidence, [pack]))
    validate_results(results)
    with pytest.raises(InputError, match="schema_version"):
        validate_results({**results, "schema_version": "0.9"})
    broken = copy.deepcopy(results)
    broken["controls"][0]["status"] = "green"
    with pytest.raises(InputError, match="controls/0/status"):
        validate_results(broken)


# ---------------------------------------------------------------------------------------------
# a forked child judges half of the controls: same verdicts, in the same order

def _all_packs_on_the_manifests():
    import os

    from auditor.collect.manifests import collect_manifests
    from auditor.packs.loader import resolve_packs

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "manifests")
    evidence = build_bundle(collect_manifests([folder]))
    return evidence, resolve_packs(None)


def _verdicts(out):
    return [(pack.id, control.id, json.dumps(verdict, sort_keys=True)) for pack, pairs in out
            for control, verdict in pairs]


@pytest.mark.parametrize("failure", [None, "exit", "unmarshallable"])
def test_parallel_evaluation_gives_the_serial_verdicts(monkeypatch, failure):
    import marshal
    import os

    import auditor.judging.engine as engine

    evidence, packs = _all_packs_on_the_manifests()
    serial = _verdicts(evaluate(evidence, packs))
    monkeypatch.setattr(engine, "PARALLEL_MIN_SUBJECTS", 0)
    monkeypatch.setattr("auditor.speed.second_core.MAX_FORK_RSS", 2**62)
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    if failure == "exit":
        monkeypatch.setattr(marshal, "dumps", lambda *_: os._exit(3))
    elif failure == "unmarshallable":
        real_dumps = marshal.dumps
        monkeypatch.setattr(marshal, "dumps", lambda value: real_dumps([value, object()]))
    parallel = _verdicts(evaluate(evidence, packs))
    assert forks == [1]
    assert parallel == serial
    assert any('"fail"' in v for *_, v in serial) and any('"pass"' in v for *_, v in serial)


def test_judging_leaves_no_reference_cycles():
    """A run judges with the cyclic collector paused and then freezes what is alive
    (auditor.speed.gc_pause): any cycle judging makes is memory held until the run ends. JMESPath
    searches each made one (a new interpreter per search: 90 MB at 43k objects); every pack over
    the manifests fixtures and the demo evidence must make none."""
    import gc
    import os

    from auditor import api
    from auditor.collect.manifests import collect_manifests

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "manifests")
    for evidence in (build_bundle(collect_manifests([folder]), root="/"), api.load_demo()):
        gc.collect()
        gc.disable()
        try:
            results = api.evaluate(evidence, api.Judging())
            assert gc.collect() == 0
        finally:
            gc.enable()
        assert results["summary"]["counts"]["fail"] > 0  # it judged something
