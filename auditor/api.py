"""The audit as a Python API: collect -> evidence -> evaluate -> results -> outputs -> gates.

The command line (:mod:`auditor.cli`) only turns arguments into the three option sets below, calls
these functions and maps their outcome to exit codes and messages; tests, a Job runner or another
program call them directly::

    from auditor import audit, Sources, Judging, Outputs

    outcome = audit(Sources(targets=["manifests"], manifests=["deploy/"]),
                    Judging(packs=["pod-security-standards"], fail_on="high"),
                    Outputs(output_dir="reports", pdf=False))
    outcome.results["score"], outcome.exit_code, outcome.written.results

Nothing here prints: messages for the user (gate breaches, incomplete evidence) are returned in
:class:`Outcome`, and a progress display is passed in by the caller (``progress=``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from auditor.common.errors import ExitCode, InputError

TARGETS = ("docker", "node", "cluster", "manifests", "scans")
DEMO_EVIDENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "demo-evidence.json")

Progress = Callable[[str], AbstractContextManager[Any]]


def _no_progress(_label: str) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# what to collect, how to judge, what to write

@dataclass
class Sources:
    """What to collect. ``targets`` None: every source that answers (docker, node, cluster)."""

    targets: Sequence[str] | None = None
    docker_host: str | None = None
    root: str = "/"
    daemon_json: str | None = None
    timeout: float = 10.0               # seconds per API request (wall clock, a trickle cannot extend it)
    deadline: float | None = 300.0      # seconds for all requests to one daemon or API server
    kubelet_config: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    manifests: Sequence[str] = ()
    node_name: str | None = None        # the node's Kubernetes name (a node collector Job passes it)
    all_nodes: bool = False             # cluster target: run the node collector as a Job on every node
    node_image: str | None = None       # its image (default auditor:VERSION)
    node_namespace: str = "auditor"
    node_parallel: int = 10             # Jobs running at once
    node_timeout: float = 300.0         # seconds per node
    docker_hosts: Sequence[str] = ()    # a fleet: several daemons, each a subject of its own
    docker_parallel: int = 8            # fleet daemons collected at once
    scan_results: Sequence[str] = ()    # vulnerability scan files or folders, read beside any source


@dataclass
class Judging:
    """Which packs and controls to judge, with which parameters, waivers, baseline and gates."""

    packs: Sequence[str] = ()
    sections: Sequence[str] = ()
    controls: Sequence[str] = ()
    level: int | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    frameworks: Sequence[str] = ()
    waivers: str | None = None          # a waivers file (YAML)
    baseline: str | None = None         # an earlier results file
    fail_under: Sequence[str] = ()      # "[ID=]SCORE"
    fail_on: str | None = None          # a severity
    fail_on_regression: bool = False


@dataclass
class Outputs:
    """Where results go and which report files are written beside them."""

    output_dir: str = "reports"
    html: bool = True
    pdf: bool = True
    oscal: bool = False
    save_evidence: bool = True
    html_subjects: int | None = None    # failing subjects listed per control (None: the report's default)
    pdf_subjects: int | None = None
    sign: Any = None                    # a signing key (auditor.signing.keys.load): PAdES PDF + attestation


@dataclass
class Written:
    """Paths of the files a run wrote."""

    results: str
    evidence: str | None = None
    reports: list[str] = field(default_factory=list)
    oscal: str | None = None
    attestation: str | None = None


@dataclass
class Outcome:
    """What an audit produced: the results document, the files, the gate verdict."""

    results: dict[str, Any]
    written: Written
    breaches: list[str]
    exit_code: int
    warnings: list[str] = field(default_factory=list)


class CollectionInterrupted(Exception):
    """Ctrl-C during collection; carries the bundle of what the sources finished before it gathered."""

    def __init__(self, evidence: dict[str, Any], label: str = "audit") -> None:
        super().__init__("interrupted during collection")
        self.evidence = evidence
        self.label = label


@dataclass
class _Prepared:
    """A Judging checked and loaded (gates parsed, waivers and baseline read) before collection."""

    judging: Judging
    gates: Any
    waiver_set: Any
    baseline_doc: dict[str, Any] | None


# ---------------------------------------------------------------------------------------------
# collect

def collect(sources: Sources, progress: Progress = _no_progress) -> tuple[dict[str, Any], str]:
    """Collect the evidence bundle the sources name; return it and a label for file names.

    Raises :class:`CollectionInterrupted` on Ctrl-C, carrying what was gathered (marked incomplete).
    """
    if not os.path.isdir(sources.root):
        raise InputError(f"--root {sources.root}: not a directory")
    if sources.targets is None:
        with progress("collecting evidence"):
            return _collect_reachable(sources)
    if sources.scan_results and "scans" not in sources.targets:
        sources = _replace(sources, targets=[*sources.targets, "scans"])
    targets = list(sources.targets)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise InputError(f"--target: unknown target {', '.join(unknown) or '(empty)'} "
                         f"(choose from {', '.join(TARGETS)})")
    label = "-".join(targets)
    from auditor.collect.collected import Collected
    from auditor.evidence.bundle import build_bundle

    if len(set(sources.docker_hosts)) > 1:
        if [t for t in targets if t != "scans"] != ["docker"] or sources.scan_results:
            raise InputError("several --docker-host make a fleet audit: --target docker only, no --scan-results "
                             "(merge other "
                             "bundles with `auditor merge`)")
        with progress(f"collecting {len(set(sources.docker_hosts))} Docker hosts"):
            return collect_fleet(sources), "docker-fleet"
    if sources.all_nodes and "cluster" not in targets:
        raise InputError("--all-nodes runs the node collector on every node of a cluster: it needs the cluster "
                         "target (--target cluster)")
    from auditor.speed.gc_pause import paused_then_frozen

    collected = Collected()
    finished: list[str] = []
    # the collector paused while the evidence is built, redacted and hashed, then the bundle kept
    # out of its sight (auditor.speed.gc_pause; judge_and_write gives it back at the end)
    with paused_then_frozen():
        with progress("collecting " + ", ".join(targets)):
            try:
                _run_collectors(sources, targets, collected, finished)
            except KeyboardInterrupt:
                raise CollectionInterrupted(_interrupted_bundle(sources, collected, targets, finished),
                                            label) from None
        evidence = build_bundle(collected, root=sources.root)
    if sources.all_nodes:
        with progress("collecting every node (one Job per node)"):
            return collect_all_nodes(sources, evidence), label + "-all-nodes"
    return evidence, label


NODE_TARGETS = ("node.process", "node.kubelet", "node.info", "host.file")


def collect_all_nodes(sources: Sources, cluster: dict[str, Any]) -> dict[str, Any]:
    """The cluster's bundle merged with every node's, collected by one Job per node (see
    auditor/collect/node_jobs.py). A node that is NotReady, cordoned, cannot be scheduled, does
    not finish in time or hands back a log that is not a whole bundle is an `error` part with the
    reason, so its controls are `error` for it and the other nodes are judged. Raises
    :class:`CollectionInterrupted` (with what was gathered) on Ctrl-C, after deleting its Jobs."""
    from auditor.collect.cluster import Api, Unreachable, list_kind
    from auditor.collect.node_jobs import JobsApi, Orchestration
    from auditor.common.version import __version__
    from auditor.evidence.merge import merge_documents

    try:
        api = Api(sources.kubeconfig, sources.context, sources.in_cluster, sources.timeout,
                  workers=sources.node_parallel)
    except Unreachable as exc:
        return _without_nodes(cluster, str(exc))
    try:
        listed = list_kind(api, "Node", "/api/v1/nodes", None, 500)
        if listed.status != "ok":
            return _without_nodes(cluster, f"cannot list the nodes: {listed.reason}")
        run = Orchestration(JobsApi(api, sources.node_namespace), sources.node_image or f"auditor:{__version__}",
                            parallel=sources.node_parallel, timeout=sources.node_timeout,
                            poll=min(2.0, max(0.05, sources.node_timeout / 20)))
        runs = run.run(listed.items)
    finally:
        api.close()
    parts: list[tuple[str, dict[str, Any]]] = [("cluster collection", cluster)]
    for node_run in runs:
        source = f"node {node_run.node}" + (f" (job {node_run.job})" if node_run.job else "")
        parts.append((source, _node_bundle(node_run, source)))
    merged = merge_documents(parts)
    if run.interrupted:
        from auditor.evidence.bundle import content_sha256

        merged["metadata"]["complete"] = False
        merged["metadata"]["incomplete_reason"] = "interrupted (Ctrl-C) while the node collector Jobs ran"
        merged["sha256"] = content_sha256(merged)
        raise CollectionInterrupted(merged, "cluster-all-nodes")
    return merged


def _without_nodes(cluster: dict[str, Any], reason: str) -> dict[str, Any]:
    """The cluster's bundle with every node target an error: no node could be collected."""
    from auditor.evidence.bundle import content_sha256

    doc = dict(cluster, metadata=dict(cluster["metadata"]))
    meta = doc["metadata"]
    message = f"--all-nodes: no node was collected: {reason}"
    meta["errors"] = [*meta.get("errors", []), {"source": "node.jobs", "message": message}]
    meta["target_errors"] = {**meta.get("target_errors", {}), **{t: message for t in NODE_TARGETS}}
    meta["complete"] = False
    doc["sha256"] = content_sha256(doc)
    return doc


def _node_bundle(node_run: Any, source: str) -> dict[str, Any]:
    """A node's bundle from its Job's log, or an error bundle naming why there is none."""
    from auditor.common.errors import InputError as _InputError
    from auditor.evidence.framing import read_framed

    reason = node_run.error
    if reason is None:
        try:
            doc = read_framed(node_run.log or "", f"{source} log")
        except _InputError as exc:
            reason = str(exc)
        else:
            names = [i["subject"].get("name") for i in doc["targets"].get("node.info") or []]
            if names == [node_run.node]:
                return doc
            reason = f"{source} log: holds the evidence of node {names[0] if names else '(none)'!r}, not of this node"
    return node_error_bundle(node_run.node, node_run.roles, reason)


def node_error_bundle(node: str, roles: Sequence[str], reason: str) -> dict[str, Any]:
    """The bundle of a node that could not be collected: its node targets are errors with the reason."""
    from auditor.collect.collected import Collected
    from auditor.common.secrets import redact_text
    from auditor.evidence.bundle import build_bundle, content_sha256

    reason = redact_text(reason)  # API server text (Job conditions, log errors) may echo credentials
    collected = Collected()
    collected.source("node.job", "error", reason)
    collected.error(f"node {node}", reason, targets=NODE_TARGETS)
    doc = build_bundle(collected, root="/host", host=node, incomplete_reason=reason)
    doc["metadata"]["node_roles"] = list(roles)
    doc["sha256"] = content_sha256(doc)
    return doc


def _run_collectors(sources: Sources, targets: Sequence[str], collected: Any, finished: list[str]) -> None:
    """Run the chosen collectors into `collected`, appending each source to `finished` once merged."""
    if "docker" in targets and len(sources.docker_hosts) > 1:
        raise InputError("several --docker-host: a fleet is collected on its own (--target docker)")
    if "docker" in targets:
        from auditor.collect.docker import collect_docker

        collected.merge(collect_docker(docker_host=sources.docker_host, root=sources.root,
                                       daemon_json_path=sources.daemon_json, timeout=sources.timeout,
                                       deadline=sources.deadline))
        finished.append("docker")
    if "node" in targets:
        from auditor.collect.node import collect_node

        collected.merge(collect_node(root=sources.root, kubelet_config=sources.kubelet_config,
                                     node_name=sources.node_name))
        finished.append("node")
    if "cluster" in targets:
        from auditor.collect.cluster import collect_cluster

        collected.merge(collect_cluster(kubeconfig=sources.kubeconfig, context=sources.context,
                                        in_cluster=sources.in_cluster, timeout=sources.timeout,
                                        deadline=sources.deadline))
        finished.append("cluster")
    if "manifests" in targets:
        if not sources.manifests:
            raise InputError("the manifests source needs a path: --manifests PATH (audit) or "
                             "`auditor collect manifests PATH...`")
        from auditor.collect.manifests import collect_manifests

        collected.merge(collect_manifests(list(sources.manifests)))
        finished.append("manifests")
    if "scans" in targets:
        _collect_scans(sources, collected)
        finished.append("scans")


def _collect_scans(sources: Sources, collected: Any) -> None:
    if not sources.scan_results:
        raise InputError("the scans source needs a path: --scan-results PATH (audit) or "
                         "`auditor collect scans PATH...`")
    from auditor.collect.scans import collect_scans

    collected.merge(collect_scans(list(sources.scan_results)))


def _collect_reachable(sources: Sources) -> tuple[dict[str, Any], str]:
    """No targets named: every source that answers (see auditor/collect/discover.py)."""
    from auditor.collect.collected import Collected
    from auditor.collect.discover import collect_reachable
    from auditor.evidence.bundle import build_bundle

    collected, reached = Collected(), []
    try:
        collect_reachable(root=sources.root, docker_host=sources.docker_host, daemon_json=sources.daemon_json,
                          timeout=sources.timeout, deadline=sources.deadline,
                          kubelet_config=sources.kubelet_config, kubeconfig=sources.kubeconfig,
                          context=sources.context, in_cluster=sources.in_cluster,
                          into=collected, reached=reached)
        if sources.scan_results:
            _collect_scans(sources, collected)
            reached.append("scans")
    except KeyboardInterrupt:
        looked = {s["name"] for s in collected.sources if s["status"] == "unreachable"}
        raise CollectionInterrupted(_interrupted_bundle(sources, collected, ("docker", "node", "cluster"),
                                                        [*reached, *looked]), "-".join(reached) or "audit") from None
    return build_bundle(collected, root=sources.root), "-".join(reached) or "audit"


def _interrupted_bundle(sources: Sources, collected: Any, names: Sequence[str],
                        finished: Sequence[str]) -> dict[str, Any]:
    """The evidence of the sources that finished; the others' targets are marked as errors."""
    from auditor.collect.k8s_objects import TARGETS as K8S_TARGETS
    from auditor.evidence.bundle import build_bundle

    fed = {"docker": ("docker.daemon", "docker.container", "docker.image", "docker.network", "host.file",
                      "host.audit_path", "host.info"),
           "node": ("node.process", "node.kubelet", "node.info", "host.file"),
           "cluster": K8S_TARGETS, "manifests": K8S_TARGETS, "scans": ("scan.result",)}
    cut = [s for s in names if s not in finished]
    reason = f"interrupted (Ctrl-C) while collecting {', '.join(cut) or 'evidence'}"
    for source in cut:
        collected.error(source, reason + ": not collected", targets=fed[source])
    return build_bundle(collected, root=sources.root, incomplete_reason=reason)


def save_interrupted(evidence: dict[str, Any], path: str) -> str:
    """Save the evidence gathered before Ctrl-C (metadata.complete false); return the message to show."""
    from auditor.evidence.bundle import save_bundle

    save_bundle(evidence, path)
    return (f"{evidence['metadata']['incomplete_reason']}: the evidence gathered so far is in {path} "
            "(marked incomplete)")


def load_evidence(path: str, accept_unverified: bool = False) -> dict[str, Any]:
    """An evidence file, checked, and through the redaction stage again before it is evaluated
    (a bundle from an older auditor, another tool or a hand may carry what the stage removes;
    the counts of this pass join `metadata.redactions`). The file itself is not changed.

    A bundle without a valid sha256 is refused (InputError) unless ``accept_unverified``: then its
    results say ``evidence.unverified`` (the reason) and every report prints UNVERIFIED."""
    from auditor.evidence.bundle import load_bundle
    from auditor.evidence.redact import redact_loaded

    return redact_loaded(load_bundle(path, accept_unverified=accept_unverified))


def load_demo() -> dict[str, Any]:
    """The bundled demo evidence (a real Docker 20.10 daemon with two dozen containers)."""
    return load_evidence(DEMO_EVIDENCE)


# ---------------------------------------------------------------------------------------------
# evaluate

def prepare(judging: Judging) -> _Prepared:
    """Check gates and load waivers and baseline, so bad input fails before any collection."""
    from auditor.judging.gates import Gates, parse_fail_on, parse_fail_under
    from auditor.judging.waivers import load_waivers
    from auditor.results.document import load_results

    gates = Gates(fail_under=parse_fail_under(list(judging.fail_under)), fail_on=parse_fail_on(judging.fail_on),
                  fail_on_regression=judging.fail_on_regression)
    if judging.fail_on_regression and not judging.baseline:
        raise InputError("--fail-on-regression needs --baseline OLD.json")
    from auditor.judging.namespace_levels import PSS_PACK, admission_defaults

    admission_defaults((judging.params.get(PSS_PACK) or {}).get("admission_defaults"))  # refused before collecting
    return _Prepared(judging, gates, load_waivers(judging.waivers) if judging.waivers else None,
                     load_results(judging.baseline) if judging.baseline else None)


def evaluate(evidence: dict[str, Any], judging: Judging | _Prepared | None = None) -> dict[str, Any]:
    """Judge an evidence bundle: the results document, waivers applied and the baseline compared."""
    from auditor.evidence.scan_match import with_scan_matches
    from auditor.judging.engine import Selection
    from auditor.judging.engine import evaluate as judge
    from auditor.packs.frameworks import packs_and_frameworks
    from auditor.results.document import build_results

    prepared = judging if isinstance(judging, _Prepared) else prepare(judging or Judging())
    j = prepared.judging
    if prepared.waiver_set is not None:  # single vulnerabilities accepted by waivers leave the window facts
        from auditor.judging.waivers import today_utc, vulnerability_waivers

        evidence = with_scan_matches(evidence, vulnerability_waivers(prepared.waiver_set, today_utc()))
    else:
        evidence = with_scan_matches(evidence)  # scan results matched to the images in use
    selection = Selection(packs=list(j.packs), sections=list(j.sections), controls=list(j.controls), level=j.level)
    present = set(evidence.get("targets", {})) | set((evidence.get("metadata") or {}).get("target_errors") or {})
    present.discard("image.in_use")  # derived from the scans: alone it makes no Docker pack relevant
    packs, frameworks = packs_and_frameworks(selection.packs, list(j.frameworks), j.params,
                                             evidence_targets=present)
    evaluated = judge(evidence, packs, selection)
    results = build_results(evidence, evaluated, selection, frameworks=frameworks)
    from auditor.judging.namespace_levels import namespace_levels, relevant

    if relevant(evaluated):  # each namespace at its declared Pod Security level (before waivers)
        levels = namespace_levels(evidence, evaluated, j.params)
        if levels is not None:
            results["namespace_levels"] = levels
    if prepared.waiver_set is not None:  # after evaluation: evaluation itself never sees waivers
        from auditor.judging.framework_scores import refresh_frameworks
        from auditor.judging.waivers import apply_waivers, today_utc

        results = apply_waivers(results, prepared.waiver_set, today_utc())
        refresh_frameworks(results)  # requirement verdicts follow the waived control statuses
    if prepared.baseline_doc is not None:
        from auditor.results.diff import diff_results

        results["baseline"] = {"source": j.baseline, "diff": diff_results(prepared.baseline_doc, results)}
    return results


def gate_outcome(results: dict[str, Any], gates: Any) -> tuple[int, list[str], list[str]]:
    """Exit code, gate breaches and warnings of a run: 3 (evidence incomplete) wins over 1 (a gate
    breached), then 0."""
    from auditor.judging.gates import breaches

    breached = breaches(results, gates)
    warnings = [f"gate breached: {message}" for message in breached]
    if not results["evidence"]["complete"]:
        warnings.append("evidence is incomplete: " + ("; ".join(
            f"{e['source']}: {e['message']}" for e in results["evidence"]["errors"]) or "see the results file"))
        return ExitCode.EVIDENCE_INCOMPLETE, breached, warnings
    return (ExitCode.GATE_BREACHED if breached else ExitCode.SUCCESS), breached, warnings


# ---------------------------------------------------------------------------------------------
# write

def run_name(evidence: dict[str, Any], label: str) -> str:
    """The file name stem of a run: label, host and collection time."""
    meta = evidence.get("metadata", {})
    host = re.sub(r"[^A-Za-z0-9._-]+", "_", str(meta.get("host") or "host"))[:60]
    stamp = re.sub(r"[^0-9TZ]", "", str(meta.get("collected_at") or ""))
    return f"{label}-{host}-{stamp or 'unknown'}"


# The files of one run beside its results: a name is free only when none of them exists.
RUN_SUFFIXES = (".results.json", ".evidence.json", ".html", ".pdf", ".oscal.json", ".attestation.json")


def claim_run_name(directory: str, stem: str, results_bytes: bytes | Callable[[Any], Any]) -> str:
    """Write the run's results file (0600) under the first free name of ``stem``, ``stem-2``,
    ``stem-3``... in ``directory`` and return that name's base (path without suffix). The results
    file is linked into place exclusively, so two runs in the same second (or of the same demo
    evidence) never share a name, and the evidence and reports follow the name it won.
    ``results_bytes``: the bytes, or a function writing them to the file it is given (see
    auditor.common.jsonio.write_new_file: if it raises, no file is left and no name taken)."""
    import itertools

    from auditor.common.jsonio import PRIVATE_MODE, write_new_file

    def candidates() -> Any:
        for n in itertools.count(1):
            base = os.path.join(directory, stem if n == 1 else f"{stem}-{n}")
            if not any(os.path.lexists(base + suffix) for suffix in RUN_SUFFIXES):
                yield base + ".results.json"

    return write_new_file(candidates(), results_bytes, PRIVATE_MODE)[: -len(".results.json")]


def write_outputs(evidence: dict[str, Any], results: dict[str, Any], outputs: Outputs, label: str,
                  progress: Progress = _no_progress, helper: Any = None) -> Written:
    """Write the evidence (when asked), the results file and the reports beside it.

    ``helper``: a :func:`pdf_helper` started earlier; it lays out the PDF while the evidence and
    the HTML are written here (without one, or if it fails, the PDF is made in this process).
    """
    from auditor.common.jsonio import write_json_atomic
    from auditor.evidence.bundle import save_bundle
    from auditor.results.document import write_results_stream
    from auditor.speed.gc_pause import paused_gc

    os.makedirs(outputs.output_dir, exist_ok=True)
    digest: list[str] = []

    def write_results(fh: Any) -> None:  # streamed, one control at a time (results.document)
        digest.append(write_results_stream(fh, results)[0])

    with paused_gc():  # each subject once, shared finding fields once per control (results.document)
        base = claim_run_name(outputs.output_dir, run_name(evidence, label), write_results)
    written = Written(results=base + ".results.json")

    def save_evidence() -> None:
        if outputs.save_evidence:
            written.evidence = base + ".evidence.json"
            with paused_gc():
                save_bundle(evidence, written.evidence)

    wanted = [f for f, on in (("html", outputs.html), ("pdf", outputs.pdf)) if on]
    if wanted:
        from auditor.report.write import write_reports

        limits = {k: v for k, v in (("html", outputs.html_subjects), ("pdf", outputs.pdf_subjects)) if v is not None}
        # the PDF first, so its layout (in the helper) overlaps the evidence file and the HTML
        order = sorted(wanted, key=lambda f: f != "pdf")
        # the reports print the digest of the file written and the PDF attaches its bytes
        paths = write_reports(results, order, base, None, limits or None, helper=helper,
                              results_path=written.results, results_sha256=digest[0], meanwhile=save_evidence)
        written.reports = sorted(paths, key=lambda p: not p.endswith(".html"))  # html, then pdf, as before
    else:
        save_evidence()
    if outputs.oscal:
        from auditor.report.oscal import render_oscal

        written.oscal = base + ".oscal.json"
        write_json_atomic(written.oscal, render_oscal(results))
    if outputs.sign is not None:
        with progress("signing"):
            sign_outputs(written, results, outputs.sign, base)
    return written


def pdf_helper(outputs: Outputs | bool) -> Any:
    """A helper process that imports WeasyPrint and loads the PDF's fonts now, while evidence is
    collected and judged, to lay out the PDF later (auditor.speed.prestart); None when no PDF is
    written (``outputs.pdf`` false, or ``outputs`` itself False). Close it when the run ends
    (``with`` or ``.close()``). Start it as early as possible: the import takes 0.5 to 1.5 s."""
    if not (outputs.pdf if isinstance(outputs, Outputs) else outputs):
        return None
    from auditor.speed.prestart import Helper

    return Helper(["auditor.report.pdf"], warm="auditor.report.pdf.warm_up", twin=True)  # warm_up imports WeasyPrint


def sign_outputs(written: Written, results: dict[str, Any], signing_key: Any, base: str) -> None:
    """Sign the PDF (PAdES) and write the run's attestation over every file it wrote."""
    from auditor.signing.attestation import SUFFIX, write_attestation
    from auditor.signing.pdf_signature import sign_pdf

    for path in written.reports:
        if path.endswith(".pdf"):
            sign_pdf(path, signing_key)
    files = [p for p in (written.evidence, written.results, *written.reports, written.oscal) if p]
    written.attestation = write_attestation(base + SUFFIX, files, results, signing_key)


# ---------------------------------------------------------------------------------------------
# the whole audit

def judge_and_write(evidence: dict[str, Any], judging: Judging | _Prepared, outputs: Outputs, label: str,
                    progress: Progress = _no_progress, helper: Any = None) -> Outcome:
    """Evaluate a bundle, write its outputs and decide the gates (``helper``: see :func:`write_outputs`)."""
    from auditor.speed.gc_pause import paused_then_frozen, unfreeze

    prepared = judging if isinstance(judging, _Prepared) else prepare(judging)
    with progress("evaluating"), paused_then_frozen():  # evidence and results live until the run ends
        results = evaluate(evidence, prepared)
    try:
        written = write_outputs(evidence, results, outputs, label, progress, helper)
    finally:
        unfreeze()
    code, breached, warnings = gate_outcome(results, prepared.gates)
    return Outcome(results, written, breached, int(code), warnings)


def audit(sources: Sources | None = None, judging: Judging | None = None, outputs: Outputs | None = None, *,
          demo: bool = False, progress: Progress = _no_progress) -> Outcome:
    """Collect (or load the demo), evaluate, write results and reports, decide the gates.

    Raises :class:`CollectionInterrupted` on Ctrl-C during collection (nothing is evaluated; the
    caller may :func:`save_interrupted` the evidence it carries).
    """
    prepared = prepare(judging or Judging())  # bad waivers, baseline or gates fail before collection
    outputs = outputs or Outputs()
    helper = pdf_helper(outputs)  # imports WeasyPrint on the other core while evidence is collected
    try:
        if demo:
            return judge_and_write(load_demo(), prepared, _replace(outputs, save_evidence=False), "docker", progress,
                                   helper)
        evidence, label = collect(sources or Sources(), progress)
        return judge_and_write(evidence, prepared, outputs, label, progress, helper)
    finally:
        if helper is not None:
            helper.close()


def _replace(outputs: Outputs, **changes: Any) -> Outputs:
    from dataclasses import replace

    return replace(outputs, **changes)


HOST_TARGETS = ("host.file", "host.audit_path", "host.info")


def collect_fleet(sources: Sources) -> dict[str, Any]:
    """Several Docker hosts (repeated --docker-host) collected in parallel, at most
    ``docker_parallel`` at once, and merged: each host a subject of its own, with its own score.
    A host that does not answer within ``timeout`` is an `error` host with the reason. Host files
    are read only for local sockets: a remote host's files are not under this machine's --root, so
    their targets are errors saying so (run `auditor collect docker` on that host and merge)."""
    from concurrent.futures import ThreadPoolExecutor

    from auditor.collect.docker import collect_docker
    from auditor.evidence.bundle import build_bundle, content_sha256
    from auditor.evidence.merge import bundle_host, merge_documents

    endpoints = list(dict.fromkeys(sources.docker_hosts))

    def one(endpoint: str) -> dict[str, Any]:
        local = endpoint.startswith(("unix://", "npipe://"))
        collected = collect_docker(docker_host=endpoint, root=sources.root, daemon_json_path=sources.daemon_json,
                                   timeout=sources.timeout, deadline=sources.deadline)
        if not local:
            reason = (f"{endpoint} is a remote Docker host: its files are not under this machine's root; run "
                      "`auditor collect docker` on it and `auditor merge` the bundles")
            for target in HOST_TARGETS:
                collected.targets.pop(target, None)
                collected.target_errors[target] = reason
            collected.source("host.files", "skipped", reason)
        return build_bundle(collected, root=sources.root if local else "(remote)")

    with ThreadPoolExecutor(max(1, min(sources.docker_parallel, len(endpoints)))) as pool:
        bundles = list(pool.map(one, endpoints))
    names = [bundle_host(b) for b in bundles]
    for endpoint, doc, name in zip(endpoints, bundles, names, strict=True):
        reachable = not any(e.get("source") == "docker.api" and "cannot connect" in e.get("message", "")
                            for e in doc["metadata"]["errors"])
        if names.count(name) > 1 or not reachable:  # two daemons of one machine, or no answer: by address
            doc["metadata"]["subject_host"] = name if reachable and names.count(name) == 1 else \
                (f"{name} ({endpoint})" if reachable else endpoint)
            doc["sha256"] = content_sha256(doc)
    return merge_documents([(f"docker host {e}", b) for e, b in zip(endpoints, bundles, strict=True)])
