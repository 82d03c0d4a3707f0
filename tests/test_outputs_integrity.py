"""Issue 18, evidence an auditor can verify and outputs that belong to their run: a bundle
without a valid sha256 is refused (or judged marked UNVERIFIED when the user says so), evidence
and results are 0600 whatever the umask, reports follow the umask, and concurrent runs into one
folder never mix their files."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from auditor.cli import DEMO_EVIDENCE

POD = """apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
  - name: web
    image: nginx:1.25
    securityContext: {privileged: true}
"""


def run_cli(*args: str, umask: int | None = None, pdf: bool = False, timeout: float = 180):
    env = dict(os.environ)
    if pdf:
        env.pop("AUDITOR_NO_PDF", None)
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def _tampered_demo(tmp_path, how: str) -> str:
    """The demo bundle with one container made privileged and its sha256 removed, emptied or left wrong."""
    with open(DEMO_EVIDENCE, encoding="utf-8") as fh:
        doc = json.load(fh)
    host_config = doc["targets"]["docker.container"][0]["inspect"]["HostConfig"]
    host_config["Privileged"] = not host_config.get("Privileged")
    if how == "removed":
        del doc["sha256"]
    elif how == "emptied":
        doc["sha256"] = ""
    elif how == "null":
        doc["sha256"] = None
    path = tmp_path / f"{how}.evidence.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("how", ["removed", "emptied", "null", "wrong"])
def test_a_bundle_without_a_valid_sha256_is_refused_in_one_line(tmp_path, how):
    evidence = _tampered_demo(tmp_path, how)
    run = run_cli("evaluate", evidence, "-o", str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert evidence in lines[0] and "sha256" in lines[0] and "--accept-unverified" in lines[0]
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


@pytest.mark.parametrize("how", ["removed", "wrong"])
def test_accept_unverified_marks_the_results_and_the_reports(tmp_path, how):
    evidence = _tampered_demo(tmp_path, how)
    out = tmp_path / "out"
    run = run_cli("evaluate", evidence, "--accept-unverified", "-o", str(out))
    assert run.returncode in (0, 1), run.stderr
    assert "UNVERIFIED evidence" in run.stdout
    results_path, = glob.glob(str(out / "*.results.json"))
    results = json.load(open(results_path, encoding="utf-8"))
    assert "sha256" in results["evidence"]["unverified"]
    from auditor.results.document import load_results

    load_results(results_path)  # valid against the published schema, field included
    report = run_cli("report", results_path, "--format", "html,table", "-o", str(out))
    assert report.returncode == 0, report.stderr
    assert "UNVERIFIED" in report.stdout
    html = open(glob.glob(str(out / "*.html"))[0], encoding="utf-8").read()
    assert "UNVERIFIED evidence" in html


def test_verified_evidence_is_not_marked(tmp_path):
    run = run_cli("evaluate", DEMO_EVIDENCE, "--format", "json", "-o", str(tmp_path))
    assert run.returncode in (0, 1), run.stderr
    assert "unverified" not in json.loads(run.stdout)["evidence"]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler's pdftotext")
def test_the_pdf_of_unverified_evidence_says_so(tmp_path):
    evidence = _tampered_demo(tmp_path, "emptied")
    run = run_cli("evaluate", evidence, "--accept-unverified", "--format", "json", "-o", str(tmp_path / "out"))
    assert run.returncode in (0, 1), run.stderr
    results_path, = glob.glob(str(tmp_path / "out" / "*.results.json"))
    report = run_cli("report", results_path, "--format", "pdf", "-o", str(tmp_path / "out"))
    assert report.returncode == 0, report.stderr
    pdf, = glob.glob(str(tmp_path / "out" / "*.pdf"))
    text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout
    assert "UNVERIFIED" in text


def _modes(folder) -> dict[str, int]:
    return {os.path.basename(p): stat.S_IMODE(os.stat(p).st_mode) for p in glob.glob(os.path.join(folder, "*"))}


@pytest.mark.slow
def test_umask_077_leaves_nothing_readable_by_others(tmp_path):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD)
    out = tmp_path / "out"
    run = run_cli("audit", "--manifests", str(manifest), "-o", str(out), "--format", "table,oscal",
                  umask=0o077, pdf=True)
    assert run.returncode in (0, 1), run.stderr
    modes = _modes(out)
    for suffix in (".evidence.json", ".results.json", ".html", ".pdf", ".oscal.json"):
        assert any(n.endswith(suffix) for n in modes), (suffix, modes)
    assert all(mode & 0o077 == 0 for mode in modes.values()), {n: oct(m) for n, m in modes.items()}
    assert stat.S_IMODE(os.stat(out).st_mode) & 0o077 == 0


def test_evidence_and_results_are_0600_under_umask_022_and_reports_follow_it(tmp_path):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD)
    out = tmp_path / "out"
    run = run_cli("audit", "--manifests", str(manifest), "-o", str(out), umask=0o022)
    assert run.returncode in (0, 1), run.stderr
    modes = _modes(out)
    evidence = [n for n in modes if n.endswith(".evidence.json")]
    results = [n for n in modes if n.endswith(".results.json")]
    html = [n for n in modes if n.endswith(".html")]
    assert evidence and results and html, modes
    assert all(modes[n] == 0o600 for n in evidence + results), {n: oct(m) for n, m in modes.items()}
    assert all(modes[n] == 0o644 for n in html)
    collected = tmp_path / "collected.json"
    run = run_cli("collect", "manifests", str(manifest), "-o", str(collected), umask=0o022)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(os.stat(collected).st_mode) == 0o600
    merged = tmp_path / "merged.json"
    run = run_cli("merge", str(collected), "-o", str(merged), umask=0o000)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(os.stat(merged).st_mode) == 0o600
    again = tmp_path / "again"  # `auditor evaluate` writes results 0600 even under umask 000
    run = run_cli("evaluate", str(collected), "-o", str(again), umask=0o000)
    assert run.returncode in (0, 1), run.stderr
    modes = _modes(again)
    results_file, = [n for n in modes if n.endswith(".results.json")]
    assert modes[results_file] == 0o600
    run = run_cli("report", str(again / results_file), "--format", "html,json", "-o", str(tmp_path / "shared"),
                  umask=0o000)
    assert run.returncode == 0, run.stderr
    modes = _modes(tmp_path / "shared")  # a report as the umask says; a results copy stays private
    assert sorted(modes.values()) == [0o600, 0o666], modes


def test_two_runs_of_the_same_second_get_names_of_their_own(tmp_path):
    """The demo evidence always has the same host and collection time: each run still gets its own files."""
    for _ in range(3):
        run = run_cli("audit", "--demo", "-o", str(tmp_path))
        assert run.returncode == 0, run.stderr
    names = sorted(os.listdir(tmp_path))
    stems = sorted(n[: -len(".results.json")] for n in names if n.endswith(".results.json"))
    assert len(stems) == 3 and stems[1] == stems[0] + "-2" and stems[2] == stems[0] + "-3", names
    assert not [n for n in names if n.startswith(".tmp-")]


def _sha(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.mark.slow
def test_concurrent_audits_into_one_folder_each_report_names_its_own_results(tmp_path):
    """Twenty pairs of audits started together (each with a parameter of its own, so every run's
    results differ), and three pairs with the PDF: every HTML and PDF names the sha256 of the
    results file beside it, and the PDF attaches exactly those bytes."""
    out = str(tmp_path / "out")

    def one(args: tuple[int, bool]):
        index, pdf = args
        extra = [] if pdf else ["--no-pdf"]
        return run_cli("audit", "--demo", *extra, "-o", out, "--format", "json",
                       "--set", f"cis-docker-1.6.0.minimum_engine_version=27.{index}.0", pdf=pdf, timeout=600)

    jobs = [(i, False) for i in range(40)] + [(100 + i, True) for i in range(6)]
    with ThreadPoolExecutor(4) as pool:  # pairs side by side, a few pairs at once (2 cores)
        runs = list(pool.map(one, jobs))
    assert all(r.returncode == 0 for r in runs), [r.stderr[-500:] for r in runs if r.returncode]
    results = sorted(glob.glob(os.path.join(out, "*.results.json")))
    assert len(results) == len(jobs)
    versions = set()
    for path in results:
        base = path[: -len(".results.json")]
        doc = json.load(open(path, encoding="utf-8"))
        version = next(p for p in doc["packs"] if p["id"] == "cis-docker-1.6.0")["parameters"]["minimum_engine_version"]
        versions.add(version)
        digest = _sha(path)
        html = open(base + ".html", encoding="utf-8").read()
        assert digest in html, path
        if os.path.exists(base + ".pdf"):
            text = subprocess.run(["pdftotext", base + ".pdf", "-"], capture_output=True, text=True,
                                  check=True).stdout
            assert digest in "".join(text.split()), path
            attached = tmp_path / "attached.json"
            subprocess.run(["pdfdetach", "-save", "1", "-o", str(attached), base + ".pdf"], check=True,
                           capture_output=True)
            assert attached.read_bytes() == open(path, "rb").read(), path
            attached.unlink()
    assert len(versions) == len(jobs)  # every run's own results, none lost or overwritten
    assert len(glob.glob(os.path.join(out, "*.pdf"))) == 6
    assert not glob.glob(os.path.join(out, ".tmp-*"))
