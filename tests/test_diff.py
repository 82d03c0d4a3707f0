"""Diffs of two results documents: hand-made pairs on a small pack, the demo, and real audits of a dockerd."""

from __future__ import annotations

import json

import dockerd
import jsonschema
import pytest
from test_engine import bundle, container
from tests_helpers import MINI_CONTROLS, mini_pack, write_pack

from auditor.cli import DEMO_EVIDENCE, main
from auditor.evidence.bundle import build_bundle, load_bundle
from auditor.judging.engine import evaluate
from auditor.packs.loader import find_pack_paths, load_pack, resolve_packs
from auditor.results.diff import diff_results, subject_identity
from auditor.results.document import build_results, results_schema, validate_results


def results_of(pack, containers, **kwargs) -> dict:
    evidence = bundle(containers, **kwargs)
    results = build_results(evidence, evaluate(evidence, [pack]))
    validate_results(results)
    return results


def assert_valid_diff(diff: dict) -> None:
    schema = results_schema()
    jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/diff"}).validate(
        json.loads(json.dumps(diff)))


def changes(diff: dict, key: str) -> list[str]:
    return sorted(f"{c['pack']}:{c['id']}" for c in diff["controls"][key])


def finding_keys(diff: dict, key: str) -> list[tuple[str, str, str, str]]:
    return sorted((f["control"], f["identity"], f["before"], f["after"]) for f in diff["findings"][key])


def demo_results() -> dict:
    evidence = load_bundle(DEMO_EVIDENCE)
    return build_results(evidence, evaluate(evidence, resolve_packs(["cis-docker-1.6.0"])))


def test_identical_inputs_give_an_empty_diff():
    results = demo_results()
    diff = diff_results(results, json.loads(json.dumps(results)))
    assert_valid_diff(diff)
    assert diff["summary"]["changed"] is False and diff["summary"]["regression"] is False
    assert all(not rows for rows in diff["controls"].values())
    assert diff["findings"] == {"new": [], "resolved": []} and diff["warnings"] == []
    assert diff["overall"]["score"] == {"old": 28.7, "new": 28.7, "delta": 0.0}
    assert all(s["state"] == "both" and s["score"]["delta"] in (0.0, None) for s in diff["sections"])


def test_regressed_fixed_new_and_resolved(tmp_path):
    pack = mini_pack(tmp_path)
    old = results_of(pack, [container("web", memory=5), container("db", privileged=True, memory=5)])
    # db is fixed (no longer privileged), web loses its memory limit, cache is new and privileged
    new = results_of(pack, [container("web"), container("db", memory=5), container("cache", privileged=True,
                                                                                    memory=5)])
    diff = diff_results(old, new)
    assert_valid_diff(diff)
    assert changes(diff, "regressed") == ["mini:2"]              # memory: passed, now web fails
    assert changes(diff, "fixed") == []                          # 1 still fails (cache)
    assert finding_keys(diff, "new") == [("1", "container:cache", "absent", "fail"),
                                         ("2", "container:web", "pass", "fail")]
    assert finding_keys(diff, "resolved") == [("1", "container:db", "fail", "pass")]
    assert diff["summary"]["regression"] is True and diff["summary"]["changed"] is True
    # weights: 1 is high (3), 2 is low (1): 1 / (3 + 1) before, nothing passes after
    assert diff["overall"]["score"] == {"old": 25.0, "new": 0.0, "delta": -25.0}
    assert diff["overall"]["counts"]["fail"] == {"old": 1, "new": 2, "delta": 1}
    assert diff["sections"][0]["id"] == "9" and diff["sections"][0]["score"]["delta"] == -25.0
    back = diff_results(new, old)
    assert changes(back, "fixed") == ["mini:2"] and back["summary"]["regression"] is True  # db fails 1 again
    assert finding_keys(back, "resolved") == [("1", "container:cache", "fail", "absent"),
                                              ("2", "container:web", "fail", "pass")]


def test_a_recreated_container_is_matched_by_name_not_id(tmp_path):
    pack = mini_pack(tmp_path)
    before = container("web", privileged=True)
    after = container("web", privileged=True)
    after["subject"]["id"] = "a-new-id"
    diff = diff_results(results_of(pack, [before]), results_of(pack, [after]))
    assert diff["findings"] == {"new": [], "resolved": []} and not diff["summary"]["changed"]


def test_subjects_sharing_a_name_are_told_apart_by_id(tmp_path):
    pack = mini_pack(tmp_path)
    one, two = container("web", privileged=True), container("web")
    two["subject"]["id"] = "other"
    fixed_two = container("web")
    fixed_two["subject"]["id"] = "other"
    diff = diff_results(results_of(pack, [one, fixed_two]), results_of(pack, [one, two]))
    assert not diff["summary"]["changed"]


def test_error_and_manual_changes_are_not_resolutions(tmp_path):
    pack = mini_pack(tmp_path)
    old = results_of(pack, [container("db", privileged=True)])
    new = results_of(pack, [], target_errors={"docker.container": "cannot connect"})
    diff = diff_results(old, new)
    assert changes(diff, "to_error") == ["mini:1", "mini:2", "mini:3"]
    assert diff["findings"]["resolved"] == []  # nothing could be judged: not a fix
    manual = write_pack(tmp_path / "m", MINI_CONTROLS.replace(
        "    assessment: automated\n    target: docker.container\n    check: {key: inspect.HostConfig.Privileged, "
        "op: eq, value: false}\n", "    assessment: manual\n"))
    diff = diff_results(old, results_of(load_pack(manual), [container("db", privileged=True)]))
    assert changes(diff, "to_manual") == ["mini:1"] and diff["findings"]["resolved"] == []


def test_pack_upgrade_with_aliases(tmp_path):
    pack = mini_pack(tmp_path)
    # version 2 of the pack: control "1" is renumbered "1.1" (declaring its alias), "2" is dropped,
    # and control "5" is new
    upgraded = MINI_CONTROLS.replace('  - id: "1"\n', '  - id: "1.1"\n    aliases: ["1"]\n')
    upgraded = upgraded.replace('  - id: "2"\n', '  - id: "5"\n')
    folder = write_pack(tmp_path / "v2", upgraded)
    new_pack = load_pack(folder)
    old = results_of(pack, [container("db", privileged=True)])
    new = results_of(new_pack, [container("db")])
    assert next(c for c in new["controls"] if c["id"] == "1.1")["aliases"] == ["1"]
    diff = diff_results(old, new)
    assert_valid_diff(diff)
    fixed = diff["controls"]["fixed"]
    assert [(c["id"], c["old_id"], c["old_status"], c["new_status"]) for c in fixed] == [("1.1", "1", "fail", "pass")]
    assert changes(diff, "appeared") == ["mini:5"] and changes(diff, "disappeared") == ["mini:2"]
    assert finding_keys(diff, "resolved") == [("1.1", "container:db", "fail", "pass")]
    # across packs: the new pack has another id and names the old one in its alias
    other = write_pack(tmp_path / "v3", upgraded.replace('aliases: ["1"]', 'aliases: ["mini:1"]'))
    (tmp_path / "v3" / "mini" / "pack.yaml").write_text(
        (tmp_path / "v3" / "mini" / "pack.yaml").read_text().replace("id: mini", "id: mini-2"))
    diff = diff_results(old, results_of(load_pack(other), [container("db")]))
    assert [(c["pack"], c["id"], c["old_pack"], c["old_id"]) for c in diff["controls"]["fixed"]] == \
        [("mini-2", "1.1", "mini", "1")]
    assert [p["state"] for p in diff["packs"]] == ["added", "removed"]


def test_frameworks_are_compared_when_present(tmp_path):
    pack = mini_pack(tmp_path)
    old = results_of(pack, [container("a")])
    new = json.loads(json.dumps(old))
    old["frameworks"] = [{"id": "nist-800-190", "title": "NIST", "score": 50.0, "coverage": 80.0,
                          "counts": {"pass": 1, "fail": 1}}]
    new["frameworks"] = [{"id": "nist-800-190", "title": "NIST", "score": 75.0, "coverage": 80.0,
                          "counts": {"pass": 3, "fail": 1}}, {"id": "pci-dss-4.0", "score": 10.0}]
    diff = diff_results(old, new)
    assert_valid_diff(diff)
    nist, pci = diff["frameworks"]
    assert nist["score"] == {"old": 50.0, "new": 75.0, "delta": 25.0} and nist["counts"]["pass"]["delta"] == 2
    assert pci["state"] == "added" and pci["score"]["old"] is None
    assert diff["summary"]["changed"]


def test_subject_identity_keeps_kubernetes_and_file_fields():
    assert subject_identity({"type": "container", "name": "web", "id": "x"}) == "container:web"
    assert subject_identity({"type": "file", "name": "/etc/docker", "path": "/etc/docker"}) == "file:/etc/docker"
    k8s = {"type": "Deployment", "kind": "Deployment", "name": "shop/web", "namespace": "shop", "id": "uid-1",
           "container": "app"}
    assert subject_identity(k8s) == "Deployment:shop/web:container=app"
    assert subject_identity({"type": "Pod", "name": "web", "namespace": "shop"}) == "Pod:shop/web"


def test_diff_command_formats_gate_and_bad_input(tmp_path, capsys):
    pack_dir = write_pack(tmp_path, MINI_CONTROLS)
    pack = load_pack(pack_dir)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(results_of(pack, [container("a", memory=5)])))
    new.write_text(json.dumps(results_of(pack, [container("a", privileged=True, memory=5)])))
    assert main(["diff", str(old), str(old), "--fail-on-regression"]) == 0
    assert "No change." in capsys.readouterr().out
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "REGRESSED" in out and "mini:1" in out and "container:a" in out and "REGRESSION" in out
    assert main(["diff", str(old), str(new), "--fail-on-regression", "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["controls"]["regressed"][0]["id"] == "1"
    assert "gate breached: regression against the baseline: 1 control(s) now fail: mini:1" in captured.err
    assert main(["diff", str(new), str(old), "--fail-on-regression"]) == 0  # the other way round: a fix
    capsys.readouterr()
    old.write_text('{"kind": "auditor-results",\n oops}')
    assert main(["diff", str(old), str(new)]) == 2
    err = capsys.readouterr().err
    assert str(old) in err and "line 2" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# real pairs: audit a dockerd, fix and break containers, audit again

def _create(host: str, name: str, *flags: str, start: bool) -> None:
    args = ["run", "-d"] if start else ["create"]
    dockerd.docker_cli(host, *args, "--name", name, "--network", "none", *dockerd.LABEL_ARGS, *flags,
                       dockerd.BUSYBOX_IMAGE, "sleep", "3600")


def _container_ids(results: dict) -> dict[str, str]:
    return {f["subject"]["name"]: f["subject"]["id"] for c in results["controls"] for f in c["findings"]
            if f["subject"]["type"] == "container"}


def _audit(host: str) -> dict:
    from auditor.collect.docker import collect_docker

    evidence = build_bundle(collect_docker(docker_host=host))
    results = build_results(evidence, evaluate(evidence, [load_pack(find_pack_paths()["cis-docker-1.6.0"])]))
    validate_results(results)
    return results


@pytest.mark.slow
@pytest.mark.docker
def test_diff_of_two_real_audits(second_dockerd, tmp_path, capsys):
    with second_dockerd({}) as host:  # its own daemon: nothing else changes between the two audits
        dockerd.import_busybox(host)
        _create(host, "diff-a", "--privileged", "--memory", "64m", start=False)  # privileged cannot start here
        _create(host, "diff-b", "--memory", "64m", start=True)
        before = _audit(host)
        ids = _container_ids(before)
        # fix diff-a (no longer privileged), break diff-b (no memory limit, host PID namespace): both recreated
        dockerd.docker_cli(host, "rm", "-f", "diff-a", "diff-b")
        _create(host, "diff-a", "--memory", "64m", start=False)
        _create(host, "diff-b", "--pid", "host", start=True)
        after = _audit(host)
    after_ids = _container_ids(after)
    assert ids["diff-a"] != after_ids["diff-a"] and ids["diff-b"] != after_ids["diff-b"]  # really recreated
    diff = diff_results(before, after)
    assert_valid_diff(diff)
    assert changes(diff, "fixed") == ["cis-docker-1.6.0:5.22", "cis-docker-1.6.0:5.4", "cis-docker-1.6.0:5.5"]
    assert changes(diff, "regressed") == ["cis-docker-1.6.0:5.11", "cis-docker-1.6.0:5.16"]
    assert finding_keys(diff, "resolved") == [("5.22", "container:diff-a", "fail", "pass"),
                                              ("5.4", "container:diff-a", "fail", "pass"),
                                              ("5.5", "container:diff-a", "fail", "pass")]
    assert finding_keys(diff, "new") == [("5.11", "container:diff-b", "pass", "fail"),
                                         ("5.16", "container:diff-b", "pass", "fail")]
    assert not diff["controls"]["appeared"] and not diff["controls"]["disappeared"]
    assert diff["overall"]["score"]["delta"] is not None and diff["summary"]["regression"]
    # the same through the command line
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(before))
    new.write_text(json.dumps(after))
    assert main(["diff", str(old), str(new), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "FIXED" in out and "REGRESSED" in out and "container:diff-b" in out
