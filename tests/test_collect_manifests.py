"""The manifests collector on a folder of real-looking manifests (tests/fixtures/manifests)."""

from __future__ import annotations

import base64
import json
import os

import pytest

from auditor.cli import main
from auditor.collect.manifests import MAX_FILE_BYTES, collect_manifests, json_documents
from auditor.common.jsonio import canonical_json
from auditor.evidence.bundle import build_bundle

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.join(HERE, "fixtures", "manifests")
CANARY = "CANARY-manifest-7f3a9c"


def _rel(path: str) -> str:
    return os.path.relpath(path, FOLDER)


@pytest.fixture(scope="module")
def collected():
    return collect_manifests([FOLDER])


def _names(collected, target: str) -> set[str]:
    return {i["subject"]["name"] for i in collected.targets[target]}


def test_every_kind_lands_in_its_target(collected):
    assert _names(collected, "k8s.pod") == {
        "shop/web", "shop/cache", "shop/nightly-report",       # controllers' pod templates
        "monitoring/metrics-node-exporter",                  # from the Helm-rendered file
        "shop/debug-shell", "default/hello",                 # bare pods (no namespace -> default)
        "shop/web-7d4b9c6f8d-x7k2p",                         # its ReplicaSet is not in the input
        "kube-system/kube-proxy-x8x4",                       # an item of a kubectl List
    }
    assert "shop/nightly-report-28934520" not in _names(collected, "k8s.pod")  # its CronJob is judged
    assert _names(collected, "k8s.serviceaccount") == {"shop/web", "monitoring/metrics", "shop/before-the-break",
                                                       "shop/after-the-break"}
    assert _names(collected, "k8s.clusterrole") == {"everything"}
    assert _names(collected, "k8s.clusterrolebinding") == {"web-everything", "cluster-admin"}
    assert _names(collected, "k8s.role") == {"shop/pod-reader"}
    assert _names(collected, "k8s.rolebinding") == {"shop/read-pods"}
    assert _names(collected, "k8s.networkpolicy") == {"shop/default-deny"}
    assert _names(collected, "k8s.limitrange") == {"shop/defaults"}
    assert _names(collected, "k8s.resourcequota") == {"shop/compute"}
    assert _names(collected, "k8s.webhook") == {"metrics-validator"}
    assert _names(collected, "k8s.node") == {"worker-1"}
    assert _names(collected, "k8s.secret") == {"shop/db-credentials"}
    assert collected.targets["k8s.admissionpolicy"] == []
    cluster = collected.targets["k8s.cluster"][0]
    assert cluster["subject"]["name"] == "manifests" and cluster["version"] is None
    assert cluster["kinds"]["Service"] == 1  # kinds without a target are counted, not judged


def test_controller_template_is_a_pod_and_containers_share_its_dicts(collected):
    web = next(i for i in collected.targets["k8s.pod"] if i["subject"]["name"] == "shop/web")
    assert web["subject"]["kind"] == "Deployment" and web["owner"] == {"kind": "Deployment", "name": "web"}
    pod = web["object"]
    assert pod["kind"] == "Pod" and pod["metadata"]["namespace"] == "shop"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    containers = [c for c in collected.targets["k8s.container"] if c["subject"]["name"].startswith("shop/web:")]
    assert {c["subject"]["container"]: c["container_type"] for c in containers} == {
        "web": "container", "metrics": "container", "migrate": "init"}
    for c in containers:
        assert c["container"] is next(x for x in [*pod["spec"]["containers"], *pod["spec"]["initContainers"]]
                                      if x["name"] == c["subject"]["container"])  # shared, not copied
        assert c["pod"] is containers[0]["pod"] and "containers" not in c["pod"]
        assert c["pod"]["securityContext"] is pod["spec"]["securityContext"]
        assert c["pod_metadata"] is pod["metadata"]
    hello = [c for c in collected.targets["k8s.container"] if c["subject"]["name"].startswith("default/hello:")]
    assert {c["container_type"] for c in hello} == {"container", "ephemeral"}
    cron = next(i for i in collected.targets["k8s.pod"] if i["subject"]["name"] == "shop/nightly-report")
    assert cron["object"]["spec"]["restartPolicy"] == "OnFailure"


def test_subjects_carry_file_and_the_line_of_the_first_key(collected):
    seen = 0
    for target, items in collected.targets.items():
        for item in items:
            subject = item["subject"]
            if "file" not in subject:
                continue
            with open(subject["file"], encoding="utf-8") as fh:
                line = fh.read().splitlines()[subject["line"] - 1]
            assert line.strip().lstrip("- ").startswith(('"apiVersion"', "apiVersion", "kind")), (target, subject, line)
            seen += 1
    assert seen > 20
    by_name = {(i["subject"]["name"], _rel(i["subject"]["file"])): i["subject"]["line"]
               for t in ("k8s.pod", "k8s.serviceaccount", "k8s.node", "k8s.webhook") for i in collected.targets[t]}
    assert by_name[("shop/cache", "shop/web.yaml")] == 59
    assert by_name[("monitoring/metrics-node-exporter", "helm-rendered.yaml")] == 15   # after '# Source:'
    assert by_name[("worker-1", "kubectl-get-all.json")] == 5                        # a List item
    assert by_name[("kube-system/kube-proxy-x8x4", "kubectl-get-all.json")] == 44
    assert by_name[("shop/after-the-break", "broken.yaml")] == 16


def test_namespaces_get_derived_counts_and_placeholders(collected):
    ns = {i["subject"]["name"]: i for i in collected.targets["k8s.namespace"]}
    shop = ns["shop"]["derived"]
    assert shop["declared"] is True
    assert shop["pss"] == {"enforce": "baseline", "audit": None, "warn": "restricted"}
    assert (shop["network_policies"], shop["limit_ranges"], shop["resource_quotas"]) == (1, 1, 1)
    assert shop["pods"] == 2 and shop["workloads"] == 5  # web, cache, cron, debug-shell, orphan pod
    assert ns["monitoring"]["object"] is None and ns["monitoring"]["derived"]["declared"] is False
    assert ns["default"]["derived"]["pods"] == 1


def test_errors_name_file_and_line_and_everything_else_is_judged(collected):
    messages = [e["message"] for e in collected.errors]
    assert any(m.startswith(os.path.join(FOLDER, "broken.yaml") + " line 14 column") and "not valid YAML" in m
               for m in messages), messages
    assert any("rendered-archive.yaml: binary file" in m for m in messages), messages
    assert len(messages) == 2
    notes = [s["detail"] for s in collected.sources if s["status"] == "skipped"]
    assert notes == [os.path.join(FOLDER, "values.yaml") + " line 2: not a Kubernetes object (no apiVersion/kind), "
                     "skipped"]
    assert collected.target_errors == {}  # a broken file never hides the targets of the others


def test_secret_values_never_reach_the_bundle(collected):
    secret = collected.targets["k8s.secret"][0]["object"]
    assert secret["type"] == "Opaque" and "data" not in secret and "stringData" not in secret
    blob = canonical_json(build_bundle(collected))
    assert CANARY.encode() not in blob and base64.b64encode(CANARY.encode()) not in blob


def test_oversized_missing_and_non_utf8_files(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n")
    bad_json = tmp_path / "list.json"
    bad_json.write_text('{\n  "kind": "List",\n  "items": [\n    {"kind": "Pod",}\n  ]\n}\n')
    c = collect_manifests([str(big), str(latin), str(bad_json), str(tmp_path / "missing")])
    messages = [e["message"] for e in c.errors]  # in the order of the paths
    assert messages[0].startswith(f"{big}: file too large")
    assert messages[2] == (f"{bad_json} line 4 column 20: not valid JSON: "
                           "Expecting property name enclosed in double quotes")
    assert messages[1] == f"{latin} line 3: not UTF-8 text (binary file?)"
    assert messages[3] == f"{tmp_path / 'missing'}: no such file or folder"


def test_yaml_quirks_stay_json_shaped(tmp_path):
    f = tmp_path / "quirks.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: q\n  creationTimestamp: 2025-01-01T00:00:00Z\n"
                 "  annotations: {2: two, on: yes}\nspec:\n  containers: [{name: c, image: x}]\n---\n"
                 "apiVersion: v1\nkind: Pod\nmetadata: {name: tagged}\nspec: !Ref nope\n---\n"
                 "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: last}\n")
    c = collect_manifests([str(f)])
    pod = c.targets["k8s.pod"][0]["object"]
    assert pod["metadata"]["creationTimestamp"] == "2025-01-01T00:00:00Z"
    assert pod["metadata"]["annotations"] == {"2": "two", "true": True}
    assert [e["message"].split(":")[0] for e in c.errors] == [f"{f} line 13 column 7"]  # the unknown tag only
    assert _names(c, "k8s.serviceaccount") == {"default/last"}
    canonical_json(build_bundle(c))  # serialisable


def test_json_documents_reports_item_lines():
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]}, indent=2)
    [(doc, line, lines)] = json_documents(text)
    assert line == 2 and doc["items"][1] == {"kind": "B"}
    assert [text.splitlines()[n - 1].strip() for n in lines] == ['"kind": "A"', '"kind": "B"']


def test_cli_collect_and_audit_manifests(tmp_path, capsys):
    out = tmp_path / "evidence.json"
    assert main(["collect", "manifests", os.path.join(FOLDER, "shop"), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {i["subject"]["name"] for i in doc["targets"]["k8s.pod"]} == {"shop/web", "shop/cache"}
    assert doc["metadata"]["complete"] is True
    # the broken file makes the evidence incomplete (exit 3), the rest is still judged
    code = main(["audit", "--manifests", FOLDER, "--format", "json", "-o", str(tmp_path / "r")])
    results = json.loads(capsys.readouterr().out)
    assert code == 3
    assert results["evidence"]["targets"]["k8s.pod"] == 8
    assert not any(f.startswith("docker") for f in os.listdir(tmp_path / "r"))
    assert main(["collect", "manifests", "-o", str(out)]) == 2  # no path


def test_pods_carry_their_service_account_automount(tmp_path):
    from auditor.collect.manifests import collect_manifests

    (tmp_path / "app.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet, namespace: shop}\n"
        "automountServiceAccountToken: false\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  template:\n    spec:\n      serviceAccountName: quiet\n      containers: [{name: a, image: x}]\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: lone, namespace: shop}\n"
        "spec: {containers: [{name: b, image: y}]}\n")
    pods = {p["subject"]["name"]: p for p in collect_manifests([str(tmp_path)]).targets["k8s.pod"]}
    assert pods["shop/web"]["service_account"] == {"name": "quiet", "found": True, "automount": False}
    assert pods["shop/lone"]["service_account"] == {"name": "default", "found": False, "automount": None}


# ---------------------------------------------------------------------------------------------
# the fast YAML constructor builds exactly what PyYAML's constructor builds

EDGE_YAML = [
    "a: 1\nb: 0x1F\nc: 0o17\nd: 1_000\ne: -1.5e3\nf: .inf\ng: -.Inf\nh: yes\ni: Off\nj: ~\nk: null\nl: ''\n",
    "1: one\n2.5: two\ntrue: t\n~: n\n0x10: hex\n2024-01-02: date\n",
    "when: 2024-01-02T03:04:05Z\nday: 2001-12-14\nbin: !!binary aGVsbG8=\n",
    "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n",
    "set: !!set {a, b}\n",
    "om: !!omap [a: 1, b: 2]\n",
    "tagged: !!str 123\nnum: !!int '7'\nflt: !!float '1'\nnul: !!null ''\n",
    "dup: 1\ndup: 2\n",
    "list: &l [1, 2, 3]\nagain: *l\nnested: {k: *l}\n",
    "k: &k key\n*k : value\n",
    "? [a, b]\n: complex\n",
    "? {a: 1}\n: complex\n",
    "plain: a*b\nstar: '*'\nglob: \"*.example.com\"\nverbs: ['*']\n",
    "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n---\n---\n# c\n",
    "custom: !Ref thing\n",
    "seqscalar: !!seq abc\n",
    "mapscalar: !!map abc\n",
    "strmap: !!str {a: 1}\n",
    "n: 012\nm: 1:30\no: +12\np: 0b101\nq: 1e3\nr: .NaN\n",
    "=: value-key\n",
]


def _standard(text: str) -> list:
    import yaml

    from auditor.collect.manifests import _Loader

    try:
        return ["ok", [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]]
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        return ["error", type(exc).__name__]


def _fast(text: str) -> list:
    from auditor.collect.manifests import yaml_documents

    errors: list[str] = []
    docs = [d for d, _line, _items in yaml_documents(text, "t.yaml", errors) if d is not None]
    return ["error", errors] if errors else ["ok", docs]


def _same(text: str) -> None:
    expected, got = _standard(text), _fast(text)
    if expected[0] == "ok":
        assert got == expected, text
    else:
        assert got[0] == "error", text


@pytest.mark.parametrize("text", EDGE_YAML)
def test_fast_constructor_matches_pyyaml_on_edge_cases(text):
    _same(text)


def test_fast_constructor_matches_pyyaml_on_generated_documents():
    import yaml
    from hypothesis import given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        st.text(max_size=12), st.sampled_from(["yes", "No", "0x1f", "1_0", "~", "2024-01-02",
                                                                "1:30", ".inf", "*", "&a", "- x", "<<"]))
    keys = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.sampled_from(["<<", "="]))
    data = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(keys, inner, max_size=4)), max_leaves=25)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(data, min_size=1, max_size=3), st.booleans(), st.booleans())
    def check(docs, flow, shared):
        if shared and docs:
            docs = [*docs, {"again": docs[0], "twice": [docs[0], docs[0]]}]  # anchors and aliases
        text = yaml.safe_dump_all(docs, default_flow_style=flow, allow_unicode=True)
        _same(text)

    check()


def test_fast_constructor_keeps_the_alias_limits():
    from auditor.collect.manifests import yaml_documents

    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6))
    errors: list[str] = []
    assert list(yaml_documents("---\nfirst: 1\n---\n" + bomb + "---\nlast: 2\n", "b.yaml", errors)) == [
        ({"first": 1}, 2, None), ({"last": 2}, 12, None)]
    assert len(errors) == 1 and "alias bomb" in errors[0] and errors[0].startswith("b.yaml line 4")
    errors = []
    deep = "x: &d " + "[" * 250 + "1" + "]" * 250 + "\ny: *d\n"
    assert list(yaml_documents(deep, "d.yaml", errors)) == [] and "nesting deeper" in errors[0]


# ---------------------------------------------------------------------------------------------
# two processes read a large folder; the result is the same as reading it in one

def test_parallel_reading_gives_what_serial_reading_gives(monkeypatch):
    import auditor.collect.manifests as manifests

    monkeypatch.setattr(manifests, "PARALLEL_MIN_BYTES", 10**12)
    serial = build_bundle(collect_manifests([FOLDER]))
    monkeypatch.setattr(manifests, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("auditor.speed.second_core.MAX_FORK_RSS", 2**62)  # however large the test process has grown
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    parallel = build_bundle(collect_manifests([FOLDER]))
    assert forks, "the folder was not shared with a child"
    for doc in (serial, parallel):
        doc["metadata"].pop("collected_at"), doc.pop("sha256")
    assert canonical_json(parallel) == canonical_json(serial)


@pytest.mark.parametrize("failure", ["exit", "garbage", "no-fork"])
def test_a_failing_child_costs_time_not_data(monkeypatch, failure):
    import marshal

    import auditor.collect.manifests as manifests

    monkeypatch.setattr(manifests, "PARALLEL_MIN_BYTES", 10**12)
    serial = build_bundle(collect_manifests([FOLDER]))
    monkeypatch.setattr(manifests, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("auditor.speed.second_core.MAX_FORK_RSS", 2**62)
    if failure == "exit":  # the child dies before writing anything
        monkeypatch.setattr(marshal, "dumps", lambda *_: os._exit(3))
    elif failure == "garbage":  # the child writes something that is not its results
        monkeypatch.setattr(marshal, "dumps", lambda *_: b"\x00not marshal")
    else:
        def no_fork():
            raise OSError(11, "Resource temporarily unavailable")
        monkeypatch.setattr(os, "fork", no_fork)
    parallel = build_bundle(collect_manifests([FOLDER]))
    for doc in (serial, parallel):
        doc["metadata"].pop("collected_at"), doc.pop("sha256")
    assert canonical_json(parallel) == canonical_json(serial)


def test_fast_constructor_matches_pyyaml_on_mutated_fixtures():
    """Real manifests with hostile tokens spliced in (anchors, aliases, merge keys, tags, flow
    brackets): the fast builder and PyYAML agree on every document, or both refuse it."""
    import glob
    import random

    rng = random.Random(20261126)
    tokens = ["&a ", "*a", "<<: *a\n", "!!str ", "!!int ", "!!set ", "!Ref ", "? ", "[", "]", "{", "}", ", ",
              ": ", "- ", "~", "yes", "0x1F", "'", '"', "\n---\n", "&b [*a, *a]\n", "1: x\n", "true: y\n"]
    texts = []
    for path in sorted(glob.glob(os.path.join(FOLDER, "**", "*.yaml"), recursive=True)):
        with open(path, "rb") as fh:
            raw = fh.read()
        if b"\0" not in raw:
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                continue  # the fixture folder's deliberately binary files
    assert len(texts) > 5
    for case in range(400):
        text = texts[case % len(texts)]
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(tokens) + text[at:]
        _same(text)


def test_terminal_table_folds_the_node_sections_a_manifests_audit_cannot_judge(tmp_path, capsys):
    import re

    main(["audit", "--manifests", FOLDER, "--pack", "cis-kubernetes-1.12", "-o", str(tmp_path)])
    out = capsys.readouterr().out
    folded = re.search(r"^1 - 4\.3 +13 sections: nothing to judge here +- +- +0 +0 +0 +(\d+) +(\d+)$", out, re.M)
    assert folded, out
    total = re.search(r"^total +CIS Kubernetes Benchmark 1\.12 .* (\d+) +(\d+)$", out, re.M)
    section5 = re.search(r"^5 +Policies .* (\d+) +(\d+)$", out, re.M)
    assert total and section5
    # n/a and manual counts of the folded sections plus section 5 are the pack's (no double counting)
    for i in (1, 2):
        assert int(folded.group(i)) + int(section5.group(i)) == int(total.group(i))
    assert "\n1.1 " not in out and "\n5.1 " in out
    # the results file keeps every section
    results = json.loads(next(tmp_path.glob("*.results.json")).read_text())
    assert {"1.1", "4.2", "5.1"} <= {s["id"] for p in results["packs"] for s in p["sections"]}


def test_text_without_an_alias_token_never_composes_to_shared_nodes():
    """The plain builder (no memo, no alias limits) is used only when has_aliases() says the text
    holds no alias: every way of writing an alias that libyaml composes must be caught."""
    import itertools

    import yaml

    from auditor.common.safeyaml import has_aliases

    anchors = ["a: &a [1, 2]\n", "- &a [1, 2]\n", "&a [1, 2]\n---\n", "[&a [1], ", "{a: &a [1], ", "a: &a\n  - 1\n",
               "a: &a 1\n", "? &a k\n: v\n", "a:\t&a [1]\n", '{"a": &a [1], ']
    contexts = ["b: *a", "b:\t*a", "b: [*a]", "b: [x,*a]", "b: {k: *a}", "b: {k:*a}", '{"k":*a}', "- *a", "-\t*a",
                "? *a\n: v", "*a : v", "b: !!seq *a", "*a", "\t*a", "b: [ *a ]", "b: [x, *a, *a]", "b:\n  *a",
                "b:\n  - *a", "b: {? *a : x}", "b: [? *a : x]", "b: \x85*a", "b: \u2028*a", "b: *a # c", "*a,", "*a]",
                "*a}", " *a}", ",*a]", ", *a]"]
    composed = shared = 0
    for anchor, context in itertools.product(anchors, contexts):
        text = anchor + context + "\n"
        try:
            nodes = [n for n in yaml.compose_all(text, Loader=yaml.CSafeLoader) if n is not None]
        except yaml.YAMLError:
            continue
        composed += 1
        seen: set[int] = set()
        stack = list(nodes)
        repeated = False
        while stack and not repeated:
            node = stack.pop()
            repeated = id(node) in seen
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                stack.extend(n for pair in node.value for n in pair)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
        if repeated:
            shared += 1
            assert has_aliases(text), repr(text)
    assert composed > 50 and shared > 50  # the check above was exercised


def test_objects_no_target_judges_are_reduced_to_their_kind_as_they_are_read(tmp_path):
    from auditor.collect.k8s_objects import counted_only

    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "message": "x" * 1000}
    assert counted_only(event) == {"kind": "Event", "apiVersion": "v1"}
    assert counted_only({"kind": "ConfigMap"}) == {"kind": "ConfigMap"}  # no apiVersion is not invented
    for kept in ({"apiVersion": "v1", "kind": "Pod"}, {"apiVersion": "apps/v1", "kind": "Deployment"},
                 {"apiVersion": "v1", "kind": "ServiceAccount"}, {"apiVersion": "v1", "kind": "List", "items": []},
                 {"kind": 5}, ["not", "a", "dict"]):
        assert counted_only(kept) is kept
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        event, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}]}))
    collected = collect_manifests([str(dump)])
    assert collected.targets["k8s.cluster"][0]["kinds"] == {"Event": 1, "Pod": 1}
    assert _names(collected, "k8s.pod") == {"a/p"}


def _owned_dump() -> dict:
    def meta(name: str, owner: tuple[str, str] | None = None, **extra) -> dict:
        m = {"name": name, "namespace": "shop", "labels": {"app": name}, **extra}
        if owner:
            m["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
        return m

    spec = {"containers": [{"name": "c", "image": "shop:1", "env": [{"name": "TOKEN", "value": CANARY}],
                            "securityContext": {"privileged": True}}]}
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": meta("web-5d-x1", ("ReplicaSet", "web-5d")), "spec": spec},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("web-5d", ("Deployment", "web")),
         "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
         "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}},
        # owned, but the owner is not in the input: judged itself, in full
        {"apiVersion": "v1", "kind": "Pod", "metadata": meta("orphan-1", ("ReplicaSet", "gone"), uid="\udcff"),
         "spec": spec},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("nightly-1", ("CronJob", "nightly")),
         "spec": {"template": {"spec": spec}}},
        # owned by a kind that is not a workload: never deferred
        {"apiVersion": "v1", "kind": "Pod", "metadata": meta("node-pod", ("Node", "n1")), "spec": spec},
    ]}


def test_owned_pods_and_workloads_are_held_as_text_until_their_controller_is_known(tmp_path, monkeypatch):
    """A dump's Pods and ReplicaSets managed by a controller of the input are not held decoded
    (deferred_unless_needed); the bundle is exactly the one of reading every object in full."""
    from auditor.collect import manifests
    from auditor.collect.k8s_objects import DEFERRED, counted_only, deferred_unless_needed

    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(_owned_dump(), indent=2))  # "\udcff" written as an escape
    text = dump.read_text()
    held = [deferred_unless_needed(v, text, 0, 0) for v in json.loads(text)["items"]]
    assert [DEFERRED in h for h in held] == [True, True, False, True, True, False]
    assert all(set(h) == {"kind", "apiVersion", "metadata", DEFERRED} and "labels" not in h["metadata"]
               for h in held if DEFERRED in h)

    def bundle() -> dict:
        doc = build_bundle(collect_manifests([str(dump)]), root="/")
        for key in ("collected_at", "sha256"):
            doc["metadata"].pop(key, None)
        doc.pop("sha256", None)
        return doc

    deferred = bundle()
    monkeypatch.setattr(manifests, "deferred_unless_needed", lambda value, *_span: counted_only(value))
    assert canonical_json(deferred) == canonical_json(bundle())  # the same evidence, byte for byte
    pods = {i["subject"]["name"]: i for i in deferred["targets"]["k8s.pod"]}
    assert set(pods) == {"shop/web", "shop/orphan-1", "shop/nightly-1", "shop/node-pod"}
    orphan = pods["shop/orphan-1"]["object"]
    assert orphan["metadata"]["labels"] == {"app": "orphan-1"} and orphan["metadata"]["uid"] == "\ufffd"
    assert orphan["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    assert pods["shop/orphan-1"]["owner"] == {"kind": "ReplicaSet", "name": "gone"}
    shop = next(i for i in deferred["targets"]["k8s.namespace"] if i["subject"]["name"] == "shop")
    assert shop["derived"]["pods"] == 3
    written = json.dumps(deferred)
    assert CANARY not in written and "deferred-json" not in written


def test_alike_pods_share_one_list_of_filled_defaults(tmp_path):
    """The API defaults filled into alike pods are listed once and shared by their items (at 43k
    objects 15,000 items hold a few dozen distinct lists), with the values each item would have."""
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    dump = tmp_path / "pods.json"
    dump.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {**pod, "metadata": {"name": f"p{n}", "namespace": "a"}} for n in range(3)]}))
    targets = collect_manifests([str(dump)]).targets
    for target in ("k8s.pod", "k8s.container"):
        lists = [item["api_defaults"] for item in targets[target]]
        assert len(lists) == 3 and lists[0] and all(paths is lists[0] for paths in lists)
    assert "object.spec.dnsPolicy" in targets["k8s.pod"][0]["api_defaults"]
    assert "container.imagePullPolicy" in targets["k8s.container"][0]["api_defaults"]
