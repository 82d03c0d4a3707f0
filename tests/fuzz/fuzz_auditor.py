#!/usr/bin/env python3
"""Fuzz the auditor's input paths for a given time and report crashes, hangs and leaks of errors.

Targets (in process, real code, no mocks): the pack loader, the manifests collector, the evidence
loader followed by evaluation and every text renderer, the waivers loader, the results loader
followed by diff, and the condition compiler and evaluator. Inputs are mutations of real seeds
(the built-in packs, tests/fixtures/manifests, the demo evidence, the golden results): byte
flips, inserted hostile tokens (aliases, brackets, NUL, escapes, surrogates, huge strings),
splices, truncations, and structural JSON mutations (values swapped for deep, huge, NaN,
wrong-typed ones).

A case is "ok" when the code returns or raises auditor.common.errors.InputError (a one-line error);
anything else is a crash, recorded with its input under --out. A case over --case-timeout
seconds is a hang. Cases run in a worker process watched by this one, so a segmentation fault
or a runaway allocation is caught and recorded too (the worker is restarted).

Usage: python3 tests/fuzz/fuzz_auditor.py --seconds 600 [--seed 1] [--out fuzz-out]
Prints a summary (cases per target, crashes, hangs) and exits 1 when anything was found.
"""

from __future__ import annotations

import argparse
import copy
import glob
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

TOKENS = [b"&a ", b"*a", b"<<: *a", b"[", b"]", b"{", b"}", b"\x00", b"\xff\xfe", b"\\udcff", b"\\ud800",
          b"\x1b[2J", b"!!python/object:os.system", b"!!binary", b"---\n", b"...\n", b": ", b"- ", b"\t", b"\n",
          b"'", b'"', b"#", b"%YAML 1.1\n", b"? ", b"|", b">", b"~", b"null", b"true", b"NaN", b"1e999",
          b"-0", b"0o777", b"=cmd|' /C calc'!A0", b"<script>", b"\xe2\x80\xae", b"M" * 5000]
JSON_VALUES: list[Any] = [None, True, False, 0, -1, 2**70, 1e308, float("nan"), float("inf"), "", "x" * 100_000,
                          [], {}, [[[[[[[[[[[]]]]]]]]]]], {"a": {"b": {"c": None}}}, "<script>alert(1)</script>",
                          "\x1b]0;t\x07", "=1+1", "\x00", "\ufeff", "../../../../etc/passwd", "9" * 5000]


# ---------------------------------------------------------------- mutation

def mutate_bytes(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """A few random edits of `data`."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        pos = rng.randint(0, len(out)) if out else 0
        if choice < 0.35:
            out[pos:pos] = rng.choice(TOKENS)
        elif choice < 0.5 and out:
            out[min(pos, len(out) - 1)] = rng.randint(0, 255)
        elif choice < 0.6:
            del out[pos:pos + rng.randint(1, 64)]
        elif choice < 0.7:
            other = rng.choice(seeds)
            start = rng.randint(0, max(len(other) - 1, 0))
            out[pos:pos] = other[start:start + rng.randint(1, 400)]
        elif choice < 0.78 and out:
            end = min(len(out), pos + rng.randint(1, 200))
            out[pos:pos] = out[pos:end] * rng.randint(2, 50)
        elif choice < 0.85:
            depth = rng.choice((10, 300, 3000, 50_000))
            out[pos:pos] = b"[" * depth + b"]" * depth
        elif choice < 0.9:
            anchors = b"a: &a [x,x,x,x,x,x,x,x]\n" + b"".join(
                b"%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n" % ((98 + i, 98 + i) + (97 + i,) * 8) for i in range(7))
            out[pos:pos] = anchors
        else:
            out = out[:pos]
    return bytes(out)


def mutate_json(rng: random.Random, doc: Any) -> Any:
    """Replace a few values at random places of a JSON document."""
    for _ in range(rng.randint(1, 5)):
        node, parent, key = doc, None, None
        for _step in range(rng.randint(1, 12)):
            if isinstance(node, dict) and node:
                parent, key = node, rng.choice(list(node))
            elif isinstance(node, list) and node:
                parent, key = node, rng.randrange(len(node))
            else:
                break
            node = parent[key]
        if parent is None:
            continue
        value = copy.deepcopy(rng.choice(JSON_VALUES))  # never share one object between places
        if rng.random() < 0.2 and isinstance(parent, dict):
            parent[rng.choice(JSON_VALUES[15:21])] = value  # a hostile key
        elif rng.random() < 0.1:
            del parent[key]
        else:
            parent[key] = value
    return doc


# ---------------------------------------------------------------- targets

class Targets:
    """The code under test, with its seeds."""

    def __init__(self, work: str) -> None:
        from auditor.evidence.bundle import load_bundle
        from auditor.packs.frameworks import packs_and_frameworks
        from auditor.packs.loader import find_pack_paths

        self.work = work
        self.last = b""  # the input of the case running now (saved when it fails)
        self.pack_seeds = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*",
                                                                                         "controls", "*.yaml")))]
        self.manifest_seeds = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(
            ROOT, "tests", "fixtures", "manifests", "**", "*.*"), recursive=True)) if os.path.getsize(p) < 400_000]
        self.demo = load_bundle(os.path.join(ROOT, "auditor", "data", "demo-evidence.json"))
        with open(os.path.join(ROOT, "tests", "golden", "demo-results.json"), encoding="utf-8") as fh:
            self.results = json.load(fh)
        self.waiver_seed = (b"waivers:\n  - control: cis-docker-1.6.0:5.4\n    subject: {name: \"web-*\", labels: "
                            b"{team: a}}\n    reason: r\n    owner: o\n    ticket: T-1\n    expires: 2030-01-01\n"
                            b"  - control: \"2.2\"\n    reason: r\n    owner: o\n    expires: 2020-01-01\n")
        self.packs, self.frameworks = packs_and_frameworks([], [], evidence_targets=set(self.demo["targets"]))
        self.pack_dir = os.path.join(work, "pack")
        os.makedirs(os.path.join(self.pack_dir, "controls"), exist_ok=True)
        del find_pack_paths
        import jsonschema

        from auditor.packs.loader import condition_schema

        self.condition_validator = jsonschema.Draft202012Validator({**condition_schema(),
                                                                    "$ref": "#/$defs/condition"})

    def names(self) -> list[str]:
        return ["pack", "manifests", "evidence", "waivers", "diff", "conditions"]

    def run(self, name: str, rng: random.Random) -> bytes:
        """Build one input for `name`, write it to the work folder, run the target; return the input."""
        return getattr(self, "case_" + name)(rng)

    # -- pack loader
    def case_pack(self, rng: random.Random) -> bytes:
        from auditor.packs.loader import load_pack

        data = self.last = mutate_bytes(rng, rng.choice(self.pack_seeds), self.pack_seeds)
        with open(os.path.join(self.pack_dir, "pack.yaml"), "w", encoding="utf-8") as fh:
            fh.write('id: fz\nkind: benchmark\ntitle: F\nversion: "1"\nsections:\n' + "".join(
                f'  - {{id: "{s}", title: s}}\n' for s in ("1", "2", "3", "4", "5", "6", "7")))
        with open(os.path.join(self.pack_dir, "controls", "c.yaml"), "wb") as fh:
            fh.write(data)
        _expect_input_error(load_pack, self.pack_dir)
        return data

    # -- manifests collector (never raises), then the bundle must be writable
    def case_manifests(self, rng: random.Random) -> bytes:
        from auditor.collect.manifests import collect_manifests
        from auditor.common.jsonio import json_text
        from auditor.evidence.bundle import build_bundle

        data = self.last = mutate_bytes(rng, rng.choice(self.manifest_seeds), self.manifest_seeds)
        path = os.path.join(self.work, "m" + rng.choice((".yaml", ".json")))
        with open(path, "wb") as fh:
            fh.write(data)
        collected = collect_manifests([path])
        json_text(build_bundle(collected)).encode("utf-8")
        return data

    # -- evidence loader, evaluation, results, text renderers
    def case_evidence(self, rng: random.Random) -> bytes:
        import copy

        from auditor.evidence.bundle import content_sha256, load_bundle

        doc = mutate_json(rng, copy.deepcopy(self.demo))
        if rng.random() < 0.8 and isinstance(doc, dict):
            doc.pop("sha256", None)
            try:
                doc["sha256"] = content_sha256(doc)
            except (ValueError, TypeError):
                pass
        data = json.dumps(doc).encode()
        if rng.random() < 0.3:
            data = mutate_bytes(rng, data, [data])
        self.last = data
        path = os.path.join(self.work, "e.json")
        with open(path, "wb") as fh:
            fh.write(data)
        evidence = _expect_input_error(load_bundle, path)
        if evidence is not None:
            self._evaluate_and_render(evidence, rng)
        return data

    def _evaluate_and_render(self, evidence: dict[str, Any], rng: random.Random) -> None:
        from auditor.common.jsonio import json_text
        from auditor.judging.engine import evaluate
        from auditor.report.csv_report import render_csv
        from auditor.report.junit import render_junit
        from auditor.report.oscal import render_oscal
        from auditor.report.sarif import render_sarif
        from auditor.report.terminal import render_table
        from auditor.results.document import build_results, validate_results

        results = build_results(evidence, evaluate(evidence, self.packs), frameworks=self.frameworks)
        text = json_text(results)
        text.encode("utf-8")
        validate_results(json.loads(text), "fuzz")
        for render in (render_junit, render_sarif, render_csv, render_table):
            render(results).encode("utf-8")
        json.dumps(render_oscal(results), allow_nan=False)
        if rng.random() < 0.05:
            from auditor.report.html import render_html

            render_html(results, results_bytes=text.encode(), results_name="r.json").encode("utf-8")

    # -- waivers
    def case_waivers(self, rng: random.Random) -> bytes:
        from auditor.judging.waivers import load_waivers

        data = self.last = mutate_bytes(rng, self.waiver_seed, [self.waiver_seed, *self.pack_seeds[:3]])
        path = os.path.join(self.work, "w.yaml")
        with open(path, "wb") as fh:
            fh.write(data)
        waivers = _expect_input_error(load_waivers, path)
        if waivers is not None:
            import copy
            import datetime as dt

            from auditor.judging.waivers import apply_waivers

            apply_waivers(copy.deepcopy(self.results), waivers, dt.date(2026, 1, 1))
        return data

    # -- results loader and diff
    def case_diff(self, rng: random.Random) -> bytes:
        import copy

        from auditor.report.diff_table import render_diff_table
        from auditor.results.diff import diff_results
        from auditor.results.document import load_results

        new = mutate_json(rng, copy.deepcopy(self.results))
        data = self.last = json.dumps(new).encode()
        path = os.path.join(self.work, "r.json")
        with open(path, "wb") as fh:
            fh.write(data)
        loaded = _expect_input_error(load_results, path)
        if loaded is not None:
            diff = diff_results(self.results, loaded)
            render_diff_table(diff)
            diff_results(loaded, self.results)
            json.dumps(diff, allow_nan=False)
        return data

    # -- condition compiler and evaluator
    def case_conditions(self, rng: random.Random) -> bytes:
        from auditor.packs.conditions import OPS, VALUE_TYPES, EvalError, compile_condition

        def leaf() -> dict[str, Any]:
            cond: dict[str, Any] = {rng.choice(("key", "key", "flag")): rng.choice(
                ("inspect.HostConfig.Privileged", "a.b[0]", "x[?y=='z'].w", "@", "foo || `1`", "[", "a.*.b",
                 "length(@)", "sort_by(@, &a)", "", "`null`"))}
            cond["op"] = rng.choice(sorted(OPS) + ["bogus"])
            if rng.random() < 0.8:
                cond["value"] = rng.choice(JSON_VALUES[:14] + ["0644", "1.2.3", "CAP_SYS_ADMIN", "(a+)+$", ["a"]])
            if rng.random() < 0.3:
                cond["value_type"] = rng.choice(sorted(VALUE_TYPES) + ["bogus"])
            return cond

        def tree(depth: int) -> Any:
            r = rng.random()
            if depth > 4 or r < 0.5:
                return leaf()
            if r < 0.7:
                return {"all": [tree(depth + 1) for _ in range(rng.randint(0, 3))]}
            if r < 0.9:
                return {"any": [tree(depth + 1) for _ in range(rng.randint(0, 3))]}
            return {"not": tree(depth + 1)}

        cond = tree(0)
        data = self.last = json.dumps(cond, default=str).encode()
        if not self.condition_validator.is_valid(cond):
            return data  # the pack loader refuses it before compiling (tested by the pack target)
        node = _expect_input_error(compile_condition, cond, {})
        if node is not None:
            import copy

            items = [mutate_json(rng, copy.deepcopy(i)) for i in self.demo["targets"]["docker.container"][:3]]
            items.append({"subject": {"name": "x"}, "errors": {"inspect": "boom"}})
            for item in items:
                try:
                    node(item)
                except EvalError:
                    pass
        return data


def _expect_input_error(fn: Any, *args: Any) -> Any:
    """fn(*args), or None when it raised InputError (the documented one-line failure)."""
    from auditor.common.errors import InputError

    try:
        return fn(*args)
    except InputError as exc:
        message = str(exc)
        if "\n" in message or "Traceback" in message:
            raise AssertionError(f"InputError is not one line: {message[:300]!r}") from None
        return None


# ---------------------------------------------------------------- worker and supervisor

def worker(args: argparse.Namespace) -> int:
    """Run cases until the deadline; write the current input before each case, the outcome after."""
    resource.setrlimit(resource.RLIMIT_AS, (args.memory_mb << 20, args.memory_mb << 20))
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="auditor-fuzz-")
    targets = Targets(work)
    current = os.path.join(args.out, "current")
    log = open(os.path.join(args.out, "log.jsonl"), "a", encoding="utf-8")

    def on_alarm(*_: Any) -> None:
        raise TimeoutError("case timeout")

    signal.signal(signal.SIGALRM, on_alarm)
    try:
        while time.time() < args.deadline:
            name = rng.choice(targets.names())
            case_seed = rng.getrandbits(64)
            with open(current, "w", encoding="utf-8") as fh:
                json.dump({"target": name, "seed": case_seed}, fh)
            outcome, detail = "ok", ""
            targets.last = b""
            signal.alarm(args.case_timeout)
            try:
                targets.run(name, random.Random(case_seed))
            except TimeoutError:
                outcome, detail = "hang", f"over {args.case_timeout}s"
            except MemoryError:
                outcome, detail = "memory", "MemoryError under the address-space limit"
            except BaseException as exc:  # noqa: BLE001 - every escape is a finding
                outcome = "crash"
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
                detail += " @ " + _where(exc)
            finally:
                signal.alarm(0)
            log.write(json.dumps({"target": name, "seed": case_seed, "outcome": outcome, "detail": detail}) + "\n")
            log.flush()
            if outcome != "ok":
                _save_case(args.out, name, case_seed, targets.last, detail)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/auditor/" in f.filename] or frames
    last = ours[-1] if ours else None
    return f"{os.path.relpath(last.filename, ROOT)}:{last.lineno} {last.name}" if last else "?"


def _save_case(out: str, name: str, seed: int, data: bytes, detail: str) -> None:
    digest = hashlib.sha256(data).hexdigest()[:12]
    with open(os.path.join(out, f"{name}-{digest}.input"), "wb") as fh:
        fh.write(data)
    with open(os.path.join(out, f"{name}-{digest}.txt"), "w", encoding="utf-8") as fh:
        fh.write(f"target {name} seed {seed}\n{detail}\n")


def supervise(args: argparse.Namespace) -> int:
    """Run workers until the time is up; a worker killed by a signal is a crash of the current case."""
    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, "log.jsonl")
    if os.path.exists(log_path):
        os.unlink(log_path)
    deadline = time.time() + args.seconds
    deaths: list[str] = []
    seed = args.seed
    while time.time() < deadline:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--seed", str(seed), "--out", args.out,
               "--deadline", str(deadline), "--case-timeout", str(args.case_timeout),
               "--memory-mb", str(args.memory_mb)]
        done = subprocess.run(cmd, check=False, timeout=args.seconds + 120)
        if done.returncode != 0:
            try:
                with open(os.path.join(args.out, "current"), encoding="utf-8") as fh:
                    current = fh.read()
            except OSError:
                current = "?"
            deaths.append(f"worker exited {done.returncode} during {current}")
        seed += 1
    return report(args.out, args.seconds, deaths)


def report(out: str, seconds: float, deaths: list[str]) -> int:
    cases: Counter[str] = Counter()
    bad: Counter[tuple[str, str]] = Counter()
    details: dict[tuple[str, str], str] = {}
    with open(os.path.join(out, "log.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            entry = json.loads(line)
            cases[entry["target"]] += 1
            if entry["outcome"] != "ok":
                key = (entry["outcome"], entry["detail"].split(" @ ")[-1])
                bad[key] += 1
                details.setdefault(key, entry["detail"])
    print(f"fuzzed {sum(cases.values())} cases in {seconds:.0f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(
        cases.items())))
    print(f"findings: {sum(bad.values())} cases, {len(bad)} distinct; worker deaths: {len(deaths)}")
    for (outcome, where), count in bad.most_common():
        print(f"  {outcome:6} x{count:<5} {details[(outcome, where)][:300]}")
    for death in deaths:
        print(f"  death  {death}")
    return 1 if bad or deaths else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "auditor-fuzz"))
    parser.add_argument("--case-timeout", type=int, default=20)
    parser.add_argument("--memory-mb", type=int, default=3072)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main())
