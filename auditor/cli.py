"""Command line: a thin layer over collect -> evidence -> evaluate -> results -> render.

Every problem the user can cause (bad pack, bad evidence, unreachable daemon, bad option) is
reported as one line on stderr with a documented exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from auditor import __version__
from auditor.errors import AuditorError, ExitCode, InputError

FORMATS = ("table", "json")
TARGETS = ("docker",)
DEMO_EVIDENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "demo-evidence.json")


# ---------------------------------------------------------------------------------------------
# argument parsing

def _add_selection(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selection")
    g.add_argument("--pack", action="append", default=[], metavar="ID|PATH",
                   help="pack to evaluate (repeatable; default: every built-in pack)")
    g.add_argument("--section", action="append", default=[], metavar="ID",
                   help="only controls of this section, e.g. 5 or 1.1 (repeatable)")
    g.add_argument("--control", action="append", default=[], metavar="ID",
                   help="only this control id, e.g. 5.5 or cis-docker-1.6.0:5.5 (repeatable)")
    g.add_argument("--level", type=int, choices=(1, 2), help="highest CIS profile level to include")
    g.add_argument("--set", action="append", default=[], metavar="PACK.PARAM=VALUE", dest="params",
                   help="override a pack parameter, e.g. cis-docker-1.6.0.minimum_engine_version=27.0")


def _add_output(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--format", default="table", metavar="LIST",
                   help="what to print: comma list of table,json (default: table)")
    g.add_argument("-o", "--output-dir", default="reports", metavar="DIR",
                   help="folder for the evidence and results files (default: reports/)")
    g.add_argument("--fail-under", type=float, metavar="SCORE",
                   help="exit 1 when the overall score is below SCORE (0-100)")


def _add_docker_source(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("docker source")
    g.add_argument("--docker-host", metavar="URL", help="daemon address (default: $DOCKER_HOST or the local socket)")
    g.add_argument("--root", default="/", metavar="DIR", help="read host files under this mounted host root")
    g.add_argument("--daemon-json", metavar="PATH", help="daemon.json to read (default: from dockerd's argv or "
                                                           "/etc/docker/daemon.json)")
    g.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds per daemon API call")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditor", description="Container compliance auditor: CIS Docker "
                                     "Benchmark checks from one archived evidence bundle.")
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("audit", help="collect evidence, evaluate the packs, write results and print a summary")
    p.add_argument("--demo", action="store_true", help="evaluate the bundled demo evidence instead of this host")
    p.add_argument("--target", default="docker", metavar="LIST", help="sources to collect (default: docker)")
    _add_docker_source(p)
    _add_selection(p)
    _add_output(p)

    p = sub.add_parser("collect", help="collect an evidence bundle only")
    p.add_argument("source", choices=TARGETS, help="what to collect")
    p.add_argument("-o", "--output", default="evidence.json", metavar="FILE", help="evidence file to write")
    _add_docker_source(p)

    p = sub.add_parser("evaluate", help="evaluate an evidence bundle (no daemon needed)")
    p.add_argument("evidence", metavar="EVIDENCE", help="evidence bundle written by `auditor collect`")
    _add_selection(p)
    _add_output(p)

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

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        pack, dot, param = name.rpartition(".")
        if not sep or not dot or not pack or not param:
            raise InputError(f"--set {item!r}: expected PACK.PARAM=VALUE, "
                             "e.g. cis-docker-1.6.0.minimum_engine_version=27.0")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        out.setdefault(pack, {})[param] = value
    return out


def _selection(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from auditor.engine import Selection

    return Selection(packs=list(args.pack), sections=list(args.section), controls=list(args.control), level=args.level)


def _run_name(evidence: dict[str, Any], label: str) -> str:
    meta = evidence.get("metadata", {})
    host = re.sub(r"[^A-Za-z0-9._-]+", "_", str(meta.get("host") or "host"))[:60]
    stamp = re.sub(r"[^0-9TZ]", "", str(meta.get("collected_at") or ""))
    return f"{label}-{host}-{stamp or 'unknown'}"


def _evaluate_and_report(evidence: dict[str, Any], args: argparse.Namespace, label: str,
                         save_evidence: bool) -> int:
    from auditor.engine import evaluate
    from auditor.evidence import save_bundle, write_json_atomic
    from auditor.packs import resolve_packs
    from auditor.report.terminal import render_table
    from auditor.results import build_results

    formats = _formats(args.format)
    selection = _selection(args)
    packs = resolve_packs(selection.packs, _parse_params(args.params))
    results = build_results(evidence, evaluate(evidence, packs, selection), selection)
    os.makedirs(args.output_dir, exist_ok=True)
    base = os.path.join(args.output_dir, _run_name(evidence, label))
    if save_evidence:
        save_bundle(evidence, base + ".evidence.json")
    write_json_atomic(base + ".results.json", results)
    if "json" in formats:
        json.dump(results, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    if "table" in formats:
        stream = sys.stderr if "json" in formats else sys.stdout
        stream.write(render_table(results))
        stream.write(f"\nresults: {base}.results.json\n")
        if save_evidence:
            stream.write(f"evidence: {base}.evidence.json\n")
    return _exit_code(results, args.fail_under)


def _exit_code(results: dict[str, Any], fail_under: float | None) -> int:
    if not results["evidence"]["complete"]:
        _warn("evidence is incomplete: " + "; ".join(
            f"{e['source']}: {e['message']}" for e in results["evidence"]["errors"]) or "see the results file")
        return ExitCode.EVIDENCE_INCOMPLETE
    if fail_under is not None:
        score = results["summary"]["score"]
        if score is None or score < fail_under:
            _warn(f"gate breached: score {score if score is not None else 'n/a'} is below --fail-under {fail_under:g}")
            return ExitCode.GATE_BREACHED
    return ExitCode.SUCCESS


def _warn(message: str) -> None:
    from auditor.report.terminal import safe_text

    sys.stderr.write(f"auditor: {safe_text(message, 2000)}\n")


def _collect(args: argparse.Namespace, targets: Sequence[str]) -> dict[str, Any]:
    from auditor.evidence import Collected, build_bundle

    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise InputError(f"--target: unknown target {', '.join(unknown) or '(empty)'} "
                         f"(choose from {', '.join(TARGETS)})")
    if not os.path.isdir(args.root):
        raise InputError(f"--root {args.root}: not a directory")
    collected = Collected()
    if "docker" in targets:
        from auditor.collect.docker import collect_docker

        collected.merge(collect_docker(docker_host=args.docker_host, root=args.root,
                                       daemon_json_path=args.daemon_json, timeout=args.timeout))
    return build_bundle(collected, root=args.root)


# ---------------------------------------------------------------------------------------------
# commands

def cmd_audit(args: argparse.Namespace) -> int:
    _formats(args.format)  # fail on a bad option before touching the system
    if args.demo:
        from auditor.evidence import load_bundle

        return _evaluate_and_report(load_bundle(DEMO_EVIDENCE), args, "docker", save_evidence=False)
    targets = [t.strip() for t in args.target.split(",") if t.strip()]
    evidence = _collect(args, targets)
    return _evaluate_and_report(evidence, args, "-".join(targets), save_evidence=True)


def cmd_collect(args: argparse.Namespace) -> int:
    from auditor.evidence import save_bundle

    evidence = _collect(args, [args.source])
    save_bundle(evidence, args.output)
    meta = evidence["metadata"]
    counts = ", ".join(f"{len(v)} {k}" for k, v in evidence["targets"].items())
    sys.stderr.write(f"wrote {args.output}: {counts} (sha256 {evidence['sha256'][:12]})\n")
    if not meta["complete"]:
        _warn("evidence is incomplete: " + "; ".join(f"{e['source']}: {e['message']}" for e in meta["errors"]))
        return ExitCode.EVIDENCE_INCOMPLETE
    return ExitCode.SUCCESS


def cmd_evaluate(args: argparse.Namespace) -> int:
    from auditor.evidence import load_bundle

    evidence = load_bundle(args.evidence)
    return _evaluate_and_report(evidence, args, "evaluate", save_evidence=False)


def cmd_packs(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from auditor.packs import find_pack_paths, load_pack, resolve_packs
    from auditor.report.terminal import safe_text

    if args.packs_command == "list":
        rows = []
        for pack in resolve_packs(None):
            automated = sum(1 for c in pack.controls if c.assessment == "automated")
            rows.append([pack.id, pack.title, pack.version, len(pack.controls), automated, pack.path])
        print(tabulate(rows, headers=["id", "title", "version", "controls", "automated", "path"]))
        return ExitCode.SUCCESS
    if args.packs_command == "validate":
        paths = args.paths or list(find_pack_paths().values())
        for path in paths:
            pack = load_pack(path)
            automated = sum(1 for c in pack.controls if c.assessment == "automated")
            print(f"ok {path}: pack {pack.id} {pack.version}, {len(pack.controls)} controls, {automated} automated")
        return ExitCode.SUCCESS
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


COMMANDS = {"audit": cmd_audit, "collect": cmd_collect, "evaluate": cmd_evaluate, "packs": cmd_packs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(COMMANDS[args.command](args))
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
