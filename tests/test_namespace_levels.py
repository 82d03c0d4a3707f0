"""Each namespace judged at the Pod Security level its labels declare (results ``namespace_levels``).

A `kubectl get -o json` List with namespaces enforcing baseline, enforcing restricted with an
audit-version, warning only, with no label, with an invalid level, and an exempt one, each with
pods and Deployments that their levels admit or reject; `auditor audit --manifests` judges it and
the view is checked per namespace and mode, against CIS Kubernetes 5.2.1, the results schema, the
terminal summary, the HTML and the PDF.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from auditor.cli import main
from auditor.results.document import load_results, validate_results

L = "pod-security.kubernetes.io/"
PLAIN = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
PRIVILEGED = {"containers": [{"name": "app", "image": "nginx:1.27", "securityContext": {"privileged": True}}]}
HARDENED = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app", "image": "nginx:1.27",
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}
HOST_PATH = {"volumes": [{"name": "h", "hostPath": {"path": "/var/run"}}],
             "containers": [{"name": "app", "image": "nginx:1.27"}]}
RESTRICTED_FAILS = ["restricted.capabilities", "restricted.privilege-escalation", "restricted.run-as-non-root",
                    "restricted.seccomp"]


def _ns(name: str, labels: dict[str, str] | None = None) -> dict:
    meta = {"name": name, **({"labels": labels} if labels else {})}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _pod(ns: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _deployment(ns: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def _dump(path: str, extra: list | None = None) -> str:
    items = [
        _ns("base", {L + "enforce": "baseline"}),
        _ns("strict", {L + "enforce": "restricted", L + "audit": "restricted", L + "audit-version": "v1.34"}),
        _ns("warnonly", {L + "warn": "restricted"}),
        _ns("none"),
        _ns("typo", {L + "enforce": "basline", L + "warn-version": "1.30"}),
        _ns("kube-system", {L + "enforce": "restricted"}),
        _pod("base", "plain", PLAIN), _pod("base", "priv", PRIVILEGED), _deployment("base", "hostpath", HOST_PATH),
        _pod("strict", "plain", PLAIN), _pod("strict", "hardened", HARDENED), _deployment("strict", "web", PLAIN),
        _pod("warnonly", "plain", PLAIN), _deployment("warnonly", "hardened", HARDENED),
        _pod("none", "priv", PRIVILEGED),
        _pod("typo", "plain", PLAIN), _pod("typo", "hardened", HARDENED),
        _pod("kube-system", "proxy", PRIVILEGED),
        _pod("elsewhere", "plain", PLAIN),  # a namespace the dump does not declare
        *(extra or []),
    ]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, fh)
    return path


def _audit(tmp_path, *args: str, capsys=None, dump: str | None = None) -> tuple[dict, str, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out"
    code = main(["audit", "--manifests", dump or _dump(str(tmp_path / "dump.json")), "-o", str(out), *args])
    assert code in (0, 1), code
    printed = capsys.readouterr().out if capsys is not None else ""
    results_file = next(str(p) for p in out.iterdir() if p.name.endswith(".results.json"))
    return load_results(results_file), results_file, printed


def _modes(view: dict, name: str) -> dict:
    entry = next(e for e in view["namespaces"] if e["name"] == name)
    return entry["modes"]


def _rejected(mode: dict) -> dict[str, list[str]]:
    return {s["name"]: s["checks"] for s in mode["subjects"]}


def test_each_namespace_judged_at_its_declared_level(tmp_path, capsys) -> None:
    results, results_file, printed = _audit(tmp_path, "--no-pdf", capsys=capsys)
    view = results["namespace_levels"]
    validate_results(results)  # the file was validated on load too

    base = _modes(view, "base")
    assert (base["enforce"]["level"], base["enforce"]["version"]) == ("baseline", "latest")
    assert (base["enforce"]["level_from"], base["enforce"]["version_from"]) == ("label", "default")
    assert _rejected(base["enforce"]) == {"base/priv": ["baseline.privileged"],
                                          "base/hostpath": ["baseline.host-path-volumes"]}
    assert (base["enforce"]["admitted"], base["enforce"]["rejected"]) == (1, 2)
    assert [c["id"] for c in base["enforce"]["checks"]] == ["baseline.host-path-volumes", "baseline.privileged"]
    for mode in ("audit", "warn"):  # no label, privileged default: everything admitted
        assert (base[mode]["level"], base[mode]["rejected"], base[mode]["admitted"]) == ("privileged", 0, 3)

    strict = _modes(view, "strict")
    assert _rejected(strict["enforce"]) == {"strict/plain": RESTRICTED_FAILS, "strict/web": RESTRICTED_FAILS}
    assert (strict["audit"]["level"], strict["audit"]["version"], strict["audit"]["version_from"]) == \
        ("restricted", "v1.34", "label")
    assert _rejected(strict["audit"]) == _rejected(strict["enforce"])
    assert strict["enforce"]["admitted"] == 1  # the hardened pod
    assert strict["warn"]["rejected"] == 0

    warn = _modes(view, "warnonly")
    assert warn["enforce"]["level"] == "privileged" and warn["enforce"]["rejected"] == 0
    assert _rejected(warn["warn"]) == {"warnonly/plain": RESTRICTED_FAILS}  # the hardened Deployment passes

    # an invalid enforce level is enforced as restricted, an invalid version judged as latest
    typo = next(e for e in view["namespaces"] if e["name"] == "typo")
    assert {(i["label"], i["value"]) for i in typo["invalid_labels"]} == {
        (L + "enforce", "basline"), (L + "warn-version", "1.30")}
    assert (typo["modes"]["enforce"]["level"], typo["modes"]["enforce"]["level_label"]) == ("restricted", "basline")
    assert (typo["modes"]["warn"]["version"], typo["modes"]["warn"]["version_label"]) == ("latest", "1.30")
    assert _rejected(typo["modes"]["enforce"]) == {"typo/plain": RESTRICTED_FAILS}

    assert view["unlabelled"] == ["none"]
    assert view["not_enforcing"] == ["none", "warnonly"]
    assert view["undeclared"] == ["elsewhere"]
    assert view["exempt"] == ["kube-system"]
    assert {e["name"] for e in view["namespaces"]} == {"base", "strict", "warnonly", "typo"}
    assert view["defaults"]["policy"]["enforce"] == {"level": "privileged", "version": "latest"}
    assert view["defaults"]["configured"] is False
    # the main run judged latest (v1.37): reused; strict's audit-version v1.34 judged afresh
    assert view["pack_version"] == "v1.37"
    assert view["levels_judged"] == [
        {"level": "baseline", "version": "v1.37", "namespaces": 1, "reused": True},
        {"level": "restricted", "version": "v1.34", "namespaces": 1, "reused": False},
        {"level": "restricted", "version": "v1.37", "namespaces": 3, "reused": True}]
    assert strict["enforce"]["judged_version"] == "v1.37" and strict["audit"]["judged_version"] == "v1.34"
    assert view["totals"]["enforce"] == {"rejected": 5, "errors": 0, "namespaces_rejecting": 3}

    # CIS Kubernetes 5.2.1 fails exactly the namespaces the view says enforce no level
    cis = next(c for c in results["controls"] if c["pack"] == "cis-kubernetes-1.12" and c["id"] == "5.2.1")
    assert sorted(f["subject"]["name"] for f in cis["findings"] if f["status"] == "fail") == view["not_enforcing"]

    assert "Namespace levels (Pod Security Admission" in printed
    table = printed[printed.index("Namespace levels"):]
    assert "base" in table and "baseline:latest" in table and "2/0/0" in table
    assert "restricted:latest !" in table and "enforce='basline'" in table
    assert "No enforced level (CIS Kubernetes 5.2.1 fails them): 2: none, warnonly" in table

    html = open(results_file.replace(".results.json", ".html"), encoding="utf-8").read()
    section = html[html.index('<section id="namespace-levels"'):]
    section = section[:section.index("</section>")]
    assert 'href="#namespace-levels"' in html
    for text in ("base/priv</span>", "baseline.privileged", "strict/web", "restricted:v1.34",
                 "invalid label pod-security.kubernetes.io/enforce=basline", "none, warnonly",
                 "Pod Security Admission's own defaults"):
        assert text in section, text


def _without_files(value):
    """The view without file and line (each audit reads its own copy of the dump)."""
    if isinstance(value, dict):
        return {k: _without_files(v) for k, v in value.items() if k not in ("file", "line")}
    return [_without_files(v) for v in value] if isinstance(value, list) else value


def test_a_level_the_main_run_did_not_judge_is_judged_afresh_alike(tmp_path) -> None:
    """With only the baseline checks in the main run (or no Pod Security pack at all), the
    restricted namespaces are judged by the pack loaded for the view: the same verdicts."""
    full, _, _ = _audit(tmp_path / "a", "--no-pdf", "--no-html")
    for args in (["--pack", "pod-security-standards", "--section", "baseline"], ["--pack", "cis-kubernetes-1.12"]):
        other, _, _ = _audit(tmp_path / "-".join(args)[-20:], "--no-pdf", "--no-html", *args)
        view = other["namespace_levels"]
        assert view["reused_main_run"] is False
        assert _without_files(view["namespaces"]) == _without_files(full["namespace_levels"]["namespaces"]), args
        assert view["not_enforcing"] == full["namespace_levels"]["not_enforcing"]


def test_admission_defaults_parameter_judges_unlabelled_modes(tmp_path) -> None:
    results, _, _ = _audit(tmp_path, "--no-pdf", "--no-html", "--set",
                           "pod-security-standards.admission_defaults={enforce: baseline, warn: restricted}")
    view = results["namespace_levels"]
    assert view["defaults"]["configured"] is True
    none = _modes(view, "none")  # no label: the configured defaults apply
    assert (none["enforce"]["level"], none["enforce"]["level_from"]) == ("baseline", "default")
    assert _rejected(none["enforce"]) == {"none/priv": ["baseline.privileged"]}
    assert _modes(view, "warnonly")["enforce"]["level"] == "baseline"
    assert view["not_enforcing"] == []
    assert _rejected(_modes(view, "base")["warn"])["base/plain"] == RESTRICTED_FAILS


@pytest.mark.parametrize("value, message", [
    ("{enforce: bogus}", "enforce: 'bogus' must be one of privileged, baseline, restricted"),
    ("{enforce-version: v2.1}", "enforce-version: 'v2.1' must be \"latest\" or \"v1.x\""),
    ("{enforcement: baseline}", "unknown key 'enforcement'"),
    ("baseline", "expected a mapping"),
])
def test_bad_admission_defaults_refused_before_collecting(tmp_path, capsys, value, message) -> None:
    out = tmp_path / "out"
    code = main(["audit", "--manifests", _dump(str(tmp_path / "dump.json")), "-o", str(out),
                 "--set", f"pod-security-standards.admission_defaults={value}"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not list(out.iterdir())  # nothing collected or written


def test_many_rejections_are_counted_and_the_first_listed(tmp_path) -> None:
    """Proportionate at scale: 45 rejected pods in one namespace, 10 listed in the results and the
    HTML, 3 in the PDF, every one counted."""
    extra = [_ns("busy", {L + "enforce": "baseline"})] + [_pod("busy", f"p{i:02d}", PRIVILEGED) for i in range(45)]
    results, results_file, _ = _audit(tmp_path, "--no-pdf", dump=_dump(str(tmp_path / "dump.json"), extra))
    busy = _modes(results["namespace_levels"], "busy")["enforce"]
    assert (busy["rejected"], busy["admitted"], len(busy["subjects"])) == (45, 0, 10)
    assert results["namespace_levels"]["namespaces"][0]["name"] == "busy"  # most rejections first
    html = open(results_file.replace(".results.json", ".html"), encoding="utf-8").read()
    assert "… 35 more (the results file lists the first 10)" in html
    from auditor.report.pdf import render_pdf

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(results))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    contents = text[text.index("Contents"):text.index("Failing controls")]
    assert "Namespace levels" in contents  # the chapter is in the table of contents
    chapter = text[text.index("Namespace levels\n", text.index("Namespace levels", text.index("Failing controls")) + 1):]
    assert "busy" in chapter and "baseline.privileged (45)" in chapter
    assert "busy/p00, busy/p01, busy/p02 … 42 more" in chapter  # the PDF lists 3, one row per namespace
    assert "No enforced level (CIS Kubernetes 5.2.1 fails them) (2)" in chapter
    pdf.unlink()


def test_no_namespaces_no_view(tmp_path) -> None:
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(_pod("default", "only", PLAIN)))
    results, _, _ = _audit(tmp_path, "--no-pdf", "--no-html", dump=str(path))
    # the manifests collector still adds the namespace it refers to, undeclared
    assert results["namespace_levels"]["namespaces"] == []
    assert results["namespace_levels"]["undeclared"] == ["default"]


PROBE_HOST = {"containers": [{"name": "app", "image": "nginx:1.27",
                              "livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}]}


def test_each_namespace_judged_at_its_declared_version(tmp_path) -> None:
    """baseline.host-probes is part of the standard from v1.34: a probe naming another host is
    admitted at enforce-version v1.33 and rejected at v1.34 and latest; a version newer than the
    pack knows is judged as latest (Pod Security Admission applies its newest policy)."""
    extra = [_ns("old", {L + "enforce": "baseline", L + "enforce-version": "v1.33"}),
             _ns("new", {L + "enforce": "baseline", L + "enforce-version": "v1.34"}),
             _ns("future", {L + "enforce": "baseline", L + "enforce-version": "v1.99"}),
             _pod("old", "probe", PROBE_HOST), _pod("new", "probe", PROBE_HOST), _pod("future", "probe", PROBE_HOST),
             _pod("base", "probe", PROBE_HOST)]
    dump = _dump(str(tmp_path / "dump.json"), extra)
    results, _, _ = _audit(tmp_path / "latest", "--no-pdf", "--no-html", dump=dump)
    view = results["namespace_levels"]
    old, new, future = (_modes(view, n)["enforce"] for n in ("old", "new", "future"))
    assert (old["judged_version"], old["rejected"], old["admitted"]) == ("v1.33", 0, 1)
    assert _rejected(new) == {"new/probe": ["baseline.host-probes"]}
    assert _rejected(future) == {"future/probe": ["baseline.host-probes"]}
    assert future["judged_version"] == "v1.37" and "newer than the pack knows" in future["note"]
    assert _rejected(_modes(view, "base")["enforce"])["base/probe"] == ["baseline.host-probes"]

    # the main run at v1.33: the latest namespaces are now the ones judged afresh, alike
    pinned, _, _ = _audit(tmp_path / "v133", "--no-pdf", "--no-html", "--set", "pod-security-standards.version=v1.33",
                          dump=dump)
    view133 = pinned["namespace_levels"]
    assert view133["pack_version"] == "v1.33"
    assert {(j["version"], j["reused"]) for j in view133["levels_judged"]} >= {("v1.33", True), ("v1.37", False)}
    assert _without_files(view133["namespaces"]) == _without_files(view["namespaces"])


def test_proc_mount_unmasked_in_a_user_namespace_by_version(tmp_path) -> None:
    """procMount Unmasked in a pod with hostUsers false: rejected at enforce-version v1.34
    (baseline.proc-mount), admitted at latest (allowed at baseline from v1.35), rejected at
    restricted latest (restricted.proc-mount)."""
    unmasked = json.loads(json.dumps(HARDENED))
    unmasked["hostUsers"] = False
    unmasked["containers"][0]["securityContext"]["procMount"] = "Unmasked"
    extra = [_ns("pm-v134", {L + "enforce": "baseline", L + "enforce-version": "v1.34"}),
             _ns("pm-latest", {L + "enforce": "baseline"}),
             _ns("pm-restricted", {L + "enforce": "restricted", L + "warn": "baseline", L + "warn-version": "v1.35"}),
             *(_pod(ns, "userns", unmasked) for ns in ("pm-v134", "pm-latest", "pm-restricted"))]
    results, _, _ = _audit(tmp_path, "--no-pdf", "--no-html", dump=_dump(str(tmp_path / "dump.json"), extra))
    view = results["namespace_levels"]
    assert _rejected(_modes(view, "pm-v134")["enforce"]) == {"pm-v134/userns": ["baseline.proc-mount"]}
    latest = _modes(view, "pm-latest")["enforce"]
    assert (latest["judged_version"], latest["rejected"], latest["admitted"]) == ("v1.37", 0, 1)
    restricted = _modes(view, "pm-restricted")
    assert _rejected(restricted["enforce"]) == {"pm-restricted/userns": ["restricted.proc-mount"]}
    assert (restricted["warn"]["judged_version"], restricted["warn"]["rejected"]) == ("v1.35", 0)
