"""Command line: parses arguments, calls the audit API (:mod:`auditor.api`) and maps its outcome
to messages and exit codes. The audit itself (collect -> evidence -> evaluate -> results ->
render -> gates) lives in the API, so Python callers, Job runners and tests share it.

Every problem the user can cause (bad pack, bad evidence, unreachable daemon, bad option) is
reported as one line on stderr with a documented exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from auditor.api import DEMO_EVIDENCE, TARGETS
from auditor.common.errors import AuditorError, ExitCode, InputError
from auditor.common.version import __version__

__all__ = ["DEMO_EVIDENCE", "TARGETS", "build_parser", "main", "run"]

FORMATS = ("table", "json", "oscal")


# ---------------------------------------------------------------------------------------------
# argument parsing

def _add_selection(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selection")
    g.add_argument("--pack", action="append", default=[], metavar="ID|PATH",
                   help="pack to evaluate (repeatable; default: every built-in pack that judges "
                        "what was collected)")
    g.add_argument("--section", action="append", default=[], metavar="ID",
                   help="only controls of this section, e.g. 5 or 1.1 (repeatable)")
    g.add_argument("--control", action="append", default=[], metavar="ID",
                   help="only this control id, e.g. 5.5 or cis-docker-1.6.0:5.5 (repeatable)")
    g.add_argument("--level", type=int, choices=(1, 2), help="highest CIS profile level to include")
    g.add_argument("--set", action="append", default=[], metavar="PACK.PARAM=VALUE", dest="params",
                   help="override a pack parameter, e.g. cis-docker-1.6.0.minimum_engine_version=27.0")
    g.add_argument("--framework", action="append", default=[], metavar="ID|PATH",
                   help="show this framework (e.g. pci-dss-4.0) and evaluate the packs it needs (repeatable; "
                        "default: every built-in framework over the packs evaluated)")


def _positive(text: str) -> int:
    """A count option that must be 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    """A number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _count(text: str) -> int:
    """A count option's value: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return int(text)


def _add_report_limits(p: argparse.ArgumentParser) -> None:
    from auditor.report.subjects_view import HTML_SUBJECTS, PDF_SUBJECTS

    p.add_argument("--html-subjects", type=_count, default=HTML_SUBJECTS, metavar="N",
                   help=f"failing subjects listed per control in the HTML (default {HTML_SUBJECTS}; "
                   "the results file lists all)")
    p.add_argument("--pdf-subjects", type=_count, default=PDF_SUBJECTS, metavar="N",
                   help=f"failing subjects printed per control in the PDF (default {PDF_SUBJECTS})")


def _report_limits(args: argparse.Namespace) -> dict[str, int]:
    return {"html": args.html_subjects, "pdf": args.pdf_subjects}


def _add_output(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--format", default="table", metavar="LIST",
                   help="comma list of table,json,oscal (json on stdout, oscal beside the results; default: table)")
    g.add_argument("-o", "--output-dir", default="reports", metavar="DIR",
                   help="folder for the evidence and results files (default: reports/)")
    g.add_argument("--fail-under", action="append", default=[], metavar="[ID=]SCORE",
                   help="exit 1 when the overall score (or that of pack or framework ID) is below SCORE "
                        "(0-100; repeatable)")
    g.add_argument("--fail-on", metavar="SEVERITY",
                   help="exit 1 when a control of this severity or higher fails (and is not waived): "
                        "critical, high, medium, low or info")
    g.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when, compared with --baseline, a control or subject newly fails")
    g.add_argument("--baseline", metavar="OLD.json",
                   help="an earlier results file: the comparison goes into the results (`baseline`)")
    g.add_argument("--waivers", metavar="FILE", help="waivers file (YAML) to apply; see docs/waivers.md")
    g.add_argument("--sign-key", metavar="KEY", help="sign the run: the PDF as PAdES and an attestation "
                   "(RUN.attestation.json) over every file written; a key from `auditor keygen`")
    g.add_argument("--sign-cert", metavar="CERT", help="the signing key's certificate (default: in KEY, or KEY "
                   "with .crt for .key)")


def _add_docker_source(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("docker and node sources")
    g.add_argument("--docker-host", action="append", default=[], metavar="URL",
                   help="daemon address (default: $DOCKER_HOST or the local socket); repeat it to audit a fleet, "
                        "each daemon a subject of its own (unix://, tcp:// with TLS from $DOCKER_CERT_PATH, ssh://)")
    g.add_argument("--docker-parallel", type=_positive, default=8, metavar="N",
                   help="fleet daemons collected at once (default: 8); --timeout bounds each API call")
    g.add_argument("--root", default="/", metavar="DIR", help="read host files under this mounted host root")
    g.add_argument("--daemon-json", metavar="PATH", help="daemon.json to read (default: from dockerd's argv or "
                                                           "/etc/docker/daemon.json)")
    g.add_argument("--timeout", type=_positive_float, default=10.0, metavar="S",
                   help="seconds per Docker or Kubernetes API request, wall clock: a server answering slowly "
                        "byte by byte cannot extend it (default: 10)")
    g.add_argument("--deadline", type=_positive_float, default=300.0, metavar="S",
                   help="seconds for all requests to one daemon or API server together; what is not read "
                        "by then is an error, the run exits 3 (default: 300)")
    g.add_argument("--kubelet-config", metavar="PATH", help="kubelet config file to read for the node target "
                                                              "(default: from kubelet's --config or the layout's path)")


def _add_k8s_source(p: argparse.ArgumentParser, manifests: bool) -> None:
    g = p.add_argument_group("kubernetes sources")
    g.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig for the cluster target (default: $KUBECONFIG "
                                                         "or ~/.kube/config)")
    g.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")
    g.add_argument("--in-cluster", action="store_true", help="use the pod's service account (auditor in a pod)")
    if manifests:
        g.add_argument("--manifests", action="append", default=[], metavar="PATH",
                       help="judge Kubernetes manifests: a YAML/JSON file or folder (repeatable)")
        w = p.add_argument_group("whole cluster (docs/merge.md)")
        w.add_argument("--all-nodes", action="store_true",
                       help="with the cluster target: run the node collector as a Job on every node and judge every "
                            "node's evidence with the cluster's (needs deploy/kubernetes/ applied)")
        w.add_argument("--node-image", metavar="IMAGE",
                       help="image of the node collector Jobs (default: auditor:VERSION)")
        w.add_argument("--node-namespace", default="auditor", metavar="NS",
                       help="namespace of the node collector Jobs (default: auditor)")
        w.add_argument("--node-parallel", type=_positive, default=10, metavar="N",
                       help="node collector Jobs running at once (default: 10)")
        w.add_argument("--node-timeout", type=float, default=300.0, metavar="S",
                       help="seconds a node's Job may take before the node is an error (default: 300)")
    else:
        g.add_argument("--node-name", metavar="NAME", help="the node's Kubernetes name for the node source "
                                                            "(default: its host name; a node collector Job passes it)")


# Options that name a source: given without --target, they choose the sources to collect.
SOURCE_OPTIONS = {"docker_host": "docker", "daemon_json": "docker", "kubelet_config": "node", "kubeconfig": "cluster",
                  "context": "cluster", "in_cluster": "cluster", "manifests": "manifests", "all_nodes": "cluster"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditor", description="Container compliance auditor: CIS Docker and "
                                     "Kubernetes benchmarks, Pod Security Standards, NIST and PCI DSS views, "
                                     "from one archived evidence bundle.")
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("audit", help="collect evidence, evaluate the packs, write results and print a summary")
    p.add_argument("--demo", action="store_true", help="evaluate the bundled demo evidence instead of this host")
    p.add_argument("--no-pdf", action="store_true", help="do not write the PDF report (also: AUDITOR_NO_PDF=1)")
    p.add_argument("--no-html", action="store_true", help="do not write the HTML report")
    _add_report_limits(p)
    p.add_argument("--target", metavar="LIST", help="sources to collect: comma list of " + ",".join(TARGETS)
                   + " (default: the sources the options name, else every source that answers)")
    _add_docker_source(p)
    _add_k8s_source(p, manifests=True)
    s = p.add_argument_group("vulnerability scans (docs/evidence-scans.md)")
    s.add_argument("--scan-results", action="append", default=[], metavar="PATH",
                   help="judge vulnerability scan results beside the other sources: a Trivy, Grype, CycloneDX or "
                        "SARIF file, or a folder of them (repeatable)")
    _add_selection(p)
    _add_output(p)

    p = sub.add_parser("collect", help="collect an evidence bundle only")
    p.add_argument("source", choices=TARGETS, help="what to collect")
    p.add_argument("paths", nargs="*", metavar="PATH", help="manifest files or folders (source manifests), "
                                                             "scan result files or folders (source scans)")
    p.add_argument("-o", "--output", default="evidence.json", metavar="FILE",
                   help="evidence file to write; - writes it framed on stdout (gzip, base64, length and sha256), "
                        "as a node collector Job does for its log")
    _add_docker_source(p)
    _add_k8s_source(p, manifests=False)

    p = sub.add_parser("merge", help="merge node, Docker host, cluster and manifest bundles into one "
                                     "(each node and Docker host a subject of its own)")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE", help="evidence bundles written by `auditor collect` "
                   "(or by an earlier merge)")
    p.add_argument("-o", "--output", default="merged.evidence.json", metavar="FILE",
                   help="merged evidence file to write (default: merged.evidence.json)")

    p = sub.add_parser("evaluate", help="evaluate an evidence bundle (no daemon needed)")
    p.add_argument("evidence", metavar="EVIDENCE", help="evidence bundle written by `auditor collect`")
    p.add_argument("--accept-unverified", action="store_true",
                   help="evaluate a bundle whose sha256 is missing, empty or wrong (refused otherwise); the results "
                        "and every report are marked UNVERIFIED")
    _add_selection(p)
    _add_output(p)

    p = sub.add_parser("report", help="render a results file as HTML, PDF, JUnit, SARIF or CSV (no daemon needed)")
    p.add_argument("results", metavar="RESULTS.json", help="results file written by `auditor audit` or `evaluate`")
    p.add_argument("--format", default="html,pdf", metavar="LIST",
                   help="comma list of table,html,pdf,json,junit,sarif,csv,oscal (default: html,pdf)")
    p.add_argument("-o", "--output-dir", metavar="DIR", help="folder for the reports (default: beside RESULTS.json)")
    _add_report_limits(p)

    p = sub.add_parser("diff", help="compare two results files: score deltas, control and subject changes")
    p.add_argument("old", metavar="OLD.json", help="the earlier results file")
    p.add_argument("new", metavar="NEW.json", help="the later results file")
    p.add_argument("--format", default="table", metavar="LIST",
                   help="comma list of table,json,html,pdf (table and json on stdout; html and pdf as files "
                        "NEW.diff.html/.diff.pdf; default: table)")
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="folder for the html and pdf files (default: beside NEW.json)")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when a control or subject fails in NEW that did not in OLD")

    p = sub.add_parser("verify", help="verify signed runs offline: attestations, PDF signatures, file digests")
    p.add_argument("files", nargs="+", metavar="FILE", help="attestation, PDF, results, evidence or HTML files")
    p.add_argument("--trust", action="append", default=[], metavar="CERT",
                   help="a trusted signer certificate, or the CA that issued it (repeatable)")

    p = sub.add_parser("keygen", help="make a signing key and a self-signed certificate for --sign-key")
    p.add_argument("directory", metavar="DIR", help="folder for auditor-signing.key (0600) and auditor-signing.crt")
    p.add_argument("--name", default="auditor evidence signer", help="the certificate's common name")

    p = sub.add_parser("packs", help="list, show or validate check packs")
    psub = p.add_subparsers(dest="packs_command", metavar="ACTION")
    psub.required = True
    psub.add_parser("list", help="list the built-in packs")
    ps = psub.add_parser("show", help="show the controls of a pack")
    ps.add_argument("pack", metavar="ID|PATH")
    ps.add_argument("--control", help="show one control in full")
    pv = psub.add_parser("validate", help="validate packs (default: every built-in pack)")
    pv.add_argument("paths", nargs="*", metavar="PATH")
    return parser


# ---------------------------------------------------------------------------------------------
# helpers

def _formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise InputError(f"--format: unknown format {', '.join(bad) or '(empty)'} (choose from {', '.join(FORMATS)})")
    return chosen


def _parse_params(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    import yaml

    from auditor.common.safeyaml import safe_load

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        pack, dot, param = name.rpartition(".")
        if not sep or not dot or not pack or not param:
            raise InputError(f"--set {item!r}: expected PACK.PARAM=VALUE, "
                             "e.g. cis-docker-1.6.0.minimum_engine_version=27.0")
        try:
            value = safe_load(raw, "--set") if raw else ""
        except (yaml.YAMLError, ValueError):  # not YAML (or over the limits): the text as given
            value = raw
        out.setdefault(pack, {})[param] = value
    return out


def _sources(args: argparse.Namespace, targets: Sequence[str] | None) -> Any:
    from auditor.api import Sources

    hosts = list(dict.fromkeys(args.docker_host or []))
    return Sources(targets=targets, docker_host=hosts[0] if len(hosts) == 1 else None, root=args.root,
                   daemon_json=args.daemon_json,
                   timeout=args.timeout, deadline=args.deadline, kubelet_config=args.kubelet_config,
                   kubeconfig=args.kubeconfig,
                   context=args.context, in_cluster=args.in_cluster, manifests=list(getattr(args, "manifests", [])),
                   node_name=getattr(args, "node_name", None), all_nodes=getattr(args, "all_nodes", False),
                   node_image=getattr(args, "node_image", None),
                   node_namespace=getattr(args, "node_namespace", "auditor"),
                   node_parallel=getattr(args, "node_parallel", 10), node_timeout=getattr(args, "node_timeout", 300.0),
                   docker_hosts=hosts if len(hosts) > 1 else (), docker_parallel=args.docker_parallel,
                   scan_results=list(getattr(args, "scan_results", None) or []))


def _judging(args: argparse.Namespace) -> Any:
    from auditor.api import Judging

    return Judging(packs=list(args.pack), sections=list(args.section), controls=list(args.control),
                   level=args.level, params=_parse_params(args.params), frameworks=list(args.framework),
                   waivers=args.waivers, baseline=args.baseline, fail_under=list(args.fail_under),
                   fail_on=args.fail_on, fail_on_regression=args.fail_on_regression)


def _outputs(args: argparse.Namespace, formats: Sequence[str], reports: bool) -> Any:
    """`audit` writes HTML and PDF (unless --no-html, --no-pdf or AUDITOR_NO_PDF=1); `evaluate` does not."""
    from auditor.api import Outputs

    return Outputs(output_dir=args.output_dir, oscal="oscal" in formats, save_evidence=args.command == "audit",
                   html=reports and not args.no_html, pdf=_wants_pdf(args, reports),
                   html_subjects=getattr(args, "html_subjects", None), pdf_subjects=getattr(args, "pdf_subjects", None),
                   sign=_signing_key(args))


def _wants_pdf(args: argparse.Namespace, reports: bool) -> bool:
    return reports and not (args.no_pdf or os.environ.get("AUDITOR_NO_PDF") == "1")


def _signing_key(args: argparse.Namespace) -> Any:
    """The key of --sign-key, read (and checked against its certificate) before anything is collected."""
    if not args.sign_key:
        if args.sign_cert:
            raise InputError("--sign-cert needs --sign-key KEY")
        return None
    from auditor.signing.keys import load

    return load(args.sign_key, args.sign_cert)


def _show(outcome: Any, formats: Sequence[str]) -> int:
    """Print the outcome of an audit or evaluate as the formats ask; return its exit code."""
    from auditor.common.jsonio import json_text
    from auditor.report.terminal import render_table
    from auditor.results.document import compact_results

    results, written = outcome.results, outcome.written
    if "json" in formats:
        sys.stdout.write(json_text(compact_results(results)))  # as the results file
    if "table" in formats:
        stream = sys.stderr if "json" in formats else sys.stdout
        stream.write(render_table(results))
        stream.write(_changes_text(results))
        stream.write(f"\nresults: {written.results}\n")
        for path in written.reports:
            stream.write(f"report: {path}\n")
        if written.evidence:
            stream.write(f"evidence: {written.evidence}\n")
        if written.oscal:
            stream.write(f"oscal: {written.oscal}\n")
        if written.attestation:
            stream.write(f"attestation: {written.attestation} (signed; check with `auditor verify`)\n")
    for message in outcome.warnings:
        _warn(message)
    return outcome.exit_code


def _changes_text(results: dict[str, Any]) -> str:
    """Waiver and baseline summaries shown under the audit table (empty when neither was asked for)."""
    text = ""
    if "waivers" in results:
        from auditor.report.waivers_table import render_waivers_summary

        text += "\n" + render_waivers_summary(results)
    if "baseline" in results:
        from auditor.report.diff_table import render_diff_table

        text += f"\nCompared with the baseline {results['baseline']['source']}:\n"
        text += render_diff_table(results["baseline"]["diff"])
    return text


def _warn(message: str) -> None:
    """One line on stderr: secrets an error quotes (a daemon or API answer echoing a header, a
    manifest line) redacted, control characters shown as escapes."""
    from auditor.common.secrets import redact_text
    from auditor.report.terminal import safe_text

    sys.stderr.write(f"auditor: {safe_text(redact_text(message), 2000)}\n")


# ---------------------------------------------------------------------------------------------
# commands

# The `auditor` command (run()) forks the run of an audit whose PDF a helper lays out, and waits
# for the PDF in the small parent (auditor.speed.handover); tests calling main() run in process.
_HAND_OVER = False


def cmd_audit(args: argparse.Namespace) -> int:
    from auditor import api

    # First of all (while this process is small, before the options are checked and the packs,
    # waivers and baseline load): a helper that imports WeasyPrint on the other core while this
    # process prepares and collects. A bad option only costs it its life (closed below).
    helper = api.pdf_helper(_wants_pdf(args, reports=True))
    try:
        if _HAND_OVER and helper is not None and helper.started:
            from auditor.report.write import finish_handed_pdf
            from auditor.speed.handover import run_in_child

            code = run_in_child(lambda hand: _run_handing_over(args, helper, hand),
                                lambda job: finish_handed_pdf(helper, job), helper.leave_job_to_child)
            if code is not None:
                return code
        return _audit(args, helper)
    finally:
        if helper is not None:
            helper.close()


def _run_handing_over(args: argparse.Namespace, helper: Any, hand: Any) -> int:
    """The forked run of an audit: as in process, but it hands its PDF wait over (unless it signs
    the PDF, which needs it written) and leaves the helper to the parent."""
    try:
        return _guarded(lambda: _audit(args, helper, hand.send))
    finally:
        helper.disown()


def _audit(args: argparse.Namespace, helper: Any, hand_over: Any = None) -> int:
    """The audit itself; ``hand_over`` (from a forked run) receives the PDF job instead of waiting."""
    from auditor import api
    from auditor.report.terminal import progress

    formats = _formats(args.format)  # fail on a bad option before touching the system
    judging = api.prepare(_judging(args))
    outputs = _outputs(args, formats, reports=True)
    if hand_over is not None and outputs.sign is None:
        helper.handover = hand_over
    if args.target is not None:
        targets: list[str] | None = [t.strip() for t in args.target.split(",") if t.strip()]
    else:  # the sources the options name, else (None) every source that answers
        targets = list(dict.fromkeys(src for opt, src in SOURCE_OPTIONS.items()
                                     if getattr(args, opt, None))) or None
    if args.demo:
        demo_outputs = dataclasses.replace(outputs, save_evidence=False)
        return _show(api.judge_and_write(api.load_demo(), judging, demo_outputs, "docker", progress, helper),
                     formats)
    try:
        evidence, label = api.collect(_sources(args, targets), progress)
    except api.CollectionInterrupted as exc:  # no evaluation: save what was gathered, exit 130
        name = api.run_name(exc.evidence, exc.label) + ".evidence.json"
        _warn(api.save_interrupted(exc.evidence, os.path.join(args.output_dir, name)))
        return ExitCode.INTERRUPTED
    return _show(api.judge_and_write(evidence, judging, outputs, label, progress, helper), formats)


def cmd_collect(args: argparse.Namespace) -> int:
    from auditor import api
    from auditor.evidence.bundle import save_bundle

    if args.paths and args.source not in ("manifests", "scans"):
        raise InputError(f"collect {args.source}: takes no PATH (only `collect manifests PATH...` and "
                         "`collect scans PATH...` do)")
    args.manifests = args.paths if args.source == "manifests" else []
    args.scan_results = args.paths if args.source == "scans" else []
    try:
        evidence, _label = api.collect(_sources(args, [args.source]))
    except api.CollectionInterrupted as exc:
        if args.output == "-":
            from auditor.evidence.framing import frame_bundle

            sys.stdout.write(frame_bundle(exc.evidence))
            _warn(f"{exc.evidence['metadata'].get('incomplete_reason')}: the evidence gathered so far was "
                  "written to stdout (marked incomplete)")
        else:
            _warn(api.save_interrupted(exc.evidence, args.output))
        return ExitCode.INTERRUPTED
    meta = evidence["metadata"]
    counts = ", ".join(f"{len(v)} {k}" for k, v in evidence["targets"].items())
    if args.output == "-":  # framed on stdout, for a Job's log (auditor/evidence/framing.py)
        from auditor.evidence.framing import frame_bundle

        sys.stdout.write(frame_bundle(evidence))
        sys.stdout.flush()
        sys.stderr.write(f"wrote the framed bundle to stdout: {counts} (sha256 {evidence['sha256'][:12]})\n")
    else:
        save_bundle(evidence, args.output)
        sys.stderr.write(f"wrote {args.output}: {counts} (sha256 {evidence['sha256'][:12]})\n")
    from auditor.report.redaction_view import redaction_line
    from auditor.report.terminal import safe_text

    sys.stderr.write(safe_text(redaction_line(meta), 400) + "\n")
    if not meta["complete"]:
        _warn("evidence is incomplete: " + "; ".join(f"{e['source']}: {e['message']}" for e in meta["errors"]))
        return ExitCode.EVIDENCE_INCOMPLETE
    return ExitCode.SUCCESS


def cmd_merge(args: argparse.Namespace) -> int:
    """Merge bundles into one; a bad, tampered, duplicate or conflicting input is one line, exit 2."""
    from auditor.evidence.bundle import save_bundle
    from auditor.evidence.merge import merge_bundles

    merged = merge_bundles(args.bundles)
    save_bundle(merged, args.output)
    meta = merged["metadata"]
    hosts = [p["host"] for p in meta["parts"] if p["host"]]
    others = [k for p in meta["parts"] if not p["host"] for k in p["kinds"]]
    what = ", ".join([f"{len(hosts)} hosts"] * bool(hosts) + others) or "nothing"
    sys.stderr.write(f"wrote {args.output}: {what} from {len(args.bundles)} bundles (sha256 {merged['sha256'][:12]})\n")
    if not meta["complete"]:
        _warn(f"evidence is incomplete: {meta['incomplete_reason']}")
        return ExitCode.EVIDENCE_INCOMPLETE
    return ExitCode.SUCCESS


def cmd_evaluate(args: argparse.Namespace) -> int:
    from auditor import api
    from auditor.report.terminal import progress

    formats = _formats(args.format)
    judging = api.prepare(_judging(args))
    evidence = api.load_evidence(args.evidence, accept_unverified=args.accept_unverified)
    return _show(api.judge_and_write(evidence, judging, _outputs(args, formats, reports=False), "evaluate",
                                     progress), formats)


def cmd_report(args: argparse.Namespace) -> int:
    """Render a results file in the chosen formats; touches no daemon or cluster."""
    from auditor.report.write import REPORT_FORMATS, write_reports
    from auditor.results.document import load_results

    chosen = [f.strip() for f in args.format.split(",") if f.strip()]
    known = ("table", *REPORT_FORMATS)
    bad = [f for f in chosen if f not in known]
    if bad or not chosen:
        raise InputError(f"--format: unknown format {', '.join(bad) or '(empty)'} (choose from {', '.join(known)})")
    results = load_results(args.results)
    with open(args.results, "rb") as fh:
        data = fh.read()
    name = os.path.basename(args.results)
    for suffix in (".results.json", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    out_dir = args.output_dir or os.path.dirname(os.path.abspath(args.results))
    written = write_reports(results, [f for f in chosen if f != "table"], os.path.join(out_dir, name), data,
                            _report_limits(args))
    if "table" in chosen:
        from auditor.report.terminal import render_table

        sys.stdout.write(render_table(results))
    for path in written:
        sys.stderr.write(f"report: {path}\n")
    return ExitCode.SUCCESS


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare two results files; exit 1 with --fail-on-regression when the newer one regressed."""
    from auditor.judging.gates import regression_breaches
    from auditor.report.diff_table import render_diff_table
    from auditor.results.diff import diff_results
    from auditor.results.document import load_results

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("table", "json", "html", "pdf")]
    if bad or not formats:
        raise InputError(f"--format: unknown format {', '.join(bad) or '(empty)'} (choose from table, json, html, pdf)")
    old, new = load_results(args.old), load_results(args.new)
    diff = diff_results(old, new)
    files = [f for f in formats if f in ("html", "pdf")]
    if files:
        from auditor.report.write import write_diff_reports

        name = os.path.basename(args.new).removesuffix(".json").removesuffix(".results")
        out_dir = args.output_dir or os.path.dirname(os.path.abspath(args.new))
        for path in write_diff_reports(diff, files, os.path.join(out_dir, name), (args.old, args.new)):
            sys.stderr.write(f"report: {path}\n")
    if "json" in formats:
        json.dump(diff, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    if "table" in formats:
        stream = sys.stderr if "json" in formats else sys.stdout
        stream.write(f"{args.old} -> {args.new}\n")
        stream.write(render_diff_table(diff))
    breached = regression_breaches(diff) if args.fail_on_regression else []
    for message in breached:
        _warn(f"gate breached: {message}")
    return ExitCode.GATE_BREACHED if breached else ExitCode.SUCCESS


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify signed runs; exit 0 only when every check of every file holds, else 1."""
    from auditor.report.terminal import safe_text
    from auditor.signing.verify import verify

    checks = verify(args.files, args.trust)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        sys.stdout.write(f"{mark} {safe_text(check.path, 300)}: {safe_text(check.message, 500)}\n")
    failed = [c for c in checks if not c.ok]
    sys.stdout.write(f"{len(checks) - len(failed)} of {len(checks)} checks hold"
                     + (": verified\n" if not failed else ": NOT verified\n"))
    return ExitCode.GATE_BREACHED if failed else ExitCode.SUCCESS


def cmd_keygen(args: argparse.Namespace) -> int:
    from auditor.signing.keys import cert_fingerprint, generate

    key_path, cert_path = generate(args.directory, args.name)
    with open(cert_path, "rb") as fh:
        fingerprint = cert_fingerprint(fh.read())
    sys.stderr.write(f"wrote {key_path} (private, 0600) and {cert_path} (certificate sha256 {fingerprint})\n"
                     f"sign a run with --sign-key {key_path}; verifiers use --trust {cert_path}\n")
    return ExitCode.SUCCESS


def _validate_packs(paths: list[str]) -> int:
    from auditor.packs.frameworks import describe_frameworks, is_framework_dir
    from auditor.packs.loader import load_pack

    for path in paths:
        if is_framework_dir(path):
            fid, _, version, reqs, automated, maps, *_ = describe_frameworks([path])[0]
            print(f"ok {path}: framework {fid} {version}, {reqs} requirements, {automated} automated, "
                  f"{maps} mappings")
            continue
        pack = load_pack(path)
        automated = sum(1 for c in pack.controls if c.assessment == "automated")
        print(f"ok {path}: pack {pack.id} {pack.version}, {len(pack.controls)} controls, {automated} automated")
    return ExitCode.SUCCESS


def cmd_packs(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from auditor.packs.frameworks import describe_frameworks, find_framework_paths
    from auditor.packs.loader import find_pack_paths, resolve_packs
    from auditor.report.terminal import safe_text

    if args.packs_command == "list":
        rows = []
        for pack in resolve_packs(None):
            automated = sum(1 for c in pack.controls if c.assessment == "automated")
            rows.append([pack.id, pack.title, pack.version, len(pack.controls), automated, pack.path])
        print(tabulate(rows, headers=["id", "title", "version", "controls", "automated", "path"]))
        print()
        print(tabulate(describe_frameworks(), headers=["framework", "title", "version", "requirements", "automated",
                                                       "mappings", "verified", "unsourced", "path"]))
        return ExitCode.SUCCESS
    if args.packs_command == "validate":
        from auditor.packs.cache import bypass

        paths = args.paths or [*find_pack_paths().values(), *find_framework_paths().values()]
        with bypass():  # validate the files themselves, not the shipped cache of them
            return _validate_packs(paths)
    pack = resolve_packs([args.pack])[0]
    if args.control:
        control = next((c for c in pack.controls if c.id == args.control), None)
        if control is None:
            raise InputError(f"pack {pack.id} has no control {args.control!r}")
        import yaml

        print(yaml.safe_dump(control.data, sort_keys=False, allow_unicode=True, width=100), end="")
        return ExitCode.SUCCESS
    rows = [[c.id, c.section, c.level or "", c.severity, c.assessment, c.target or "", safe_text(c.title, 80)]
            for c in pack.controls]
    print(f"{pack.title} {pack.version} ({pack.id}): {len(pack.controls)} controls")
    print(tabulate(rows, headers=["id", "section", "level", "severity", "assessment", "target", "title"],
                   disable_numparse=True))
    return ExitCode.SUCCESS


COMMANDS = {"audit": cmd_audit, "collect": cmd_collect, "merge": cmd_merge, "evaluate": cmd_evaluate,
            "report": cmd_report, "diff": cmd_diff, "packs": cmd_packs, "verify": cmd_verify, "keygen": cmd_keygen}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return _guarded(lambda: COMMANDS[args.command](args))


def _guarded(command: Callable[[], int]) -> int:
    """Run a command: its exit code, or a one-line error and the exit code it calls for."""
    try:
        return int(command())
    except AuditorError as exc:
        _warn(str(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _warn("interrupted")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.SUCCESS)
    except OSError as exc:
        _warn(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        return int(ExitCode.INVALID_INPUT)


def run() -> int:
    """The `auditor` command (and `python3 -m auditor`): :func:`main`, then the objects the run
    built are frozen, so the garbage collector's final pass at interpreter exit skips them (a
    few hundred thousand dicts for a cluster: tens of milliseconds of a one-second run).
    Tests call :func:`main` in process and keep their collector."""
    global _HAND_OVER
    _HAND_OVER = True
    code = main()
    import gc

    gc.freeze()
    return code
