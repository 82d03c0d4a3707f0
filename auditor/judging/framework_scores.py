"""Framework verdicts: each requirement judged from the results of the benchmark controls mapped
onto it, and the framework's score and coverage; a pure function of evaluated control results,
so the CLI, the renderers and a diff of two results documents all read the same thing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from auditor.judging.scoring import score_controls
from auditor.packs.frameworks import Framework, Mapping

# Requirement verdicts, in the order the rule checks them (see VERDICT_RULE).
REQUIREMENT_STATUSES = ("pass", "fail", "error", "not_applicable", "manual", "not_assessed", "waived")
VERDICT_RULE = (
    "manual requirement -> manual; otherwise over its mapped automated controls: any fail -> fail; "
    "else any error -> error; else any mapped control not evaluated -> not_assessed; else any waived -> waived; "
    "else any pass -> pass; else all not_applicable -> not_applicable; only manual controls mapped -> manual")
SCORE_FORMULA = ("framework score = 100 x requirements passed / (passed + failed), over automated requirements "
                 "(each requirement weighs 1)")
COVERAGE_FORMULA = ("framework coverage = 100 x automated requirements with a verdict (pass, fail, not applicable)"
                    " / automated requirements")


# ---------------------------------------------------------------------------------------------
# verdicts: a pure function of control results

def requirement_verdict(assessment: str, refs: Sequence[tuple[str, str]],
                        controls: dict[tuple[str, str], dict[str, Any]]) -> tuple[str, str | None]:
    """Status and reason of one requirement from the results of its mapped controls (see VERDICT_RULE).

    ``refs`` are the requirement's mapped (pack, control id) pairs; ``controls`` the evaluated
    control entries of a results document by (pack, id).
    """
    if assessment == "manual":
        return "manual", "needs a person: see the audit text"
    found = [controls.get(ref) for ref in refs]
    missing = [f"{p}:{c}" for (p, c), entry in zip(refs, found, strict=True) if entry is None]
    statuses = [c["status"] for c in found if c is not None and c["assessment"] == "automated"]
    if "fail" in statuses:
        return "fail", None
    if "error" in statuses:
        return "error", "a mapped control could not be judged"
    if missing:
        return "not_assessed", "not evaluated: " + ", ".join(missing)
    if "waived" in statuses:
        return "waived", None
    if "pass" in statuses:
        return "pass", None
    if statuses:
        return "not_applicable", "no mapped control had anything to judge"
    return "manual", "every mapped control needs a person"


def framework_results(controls: Iterable[dict[str, Any]], frameworks: Iterable[Framework],
                      waivers: bool = False) -> list[dict[str, Any]]:
    """The ``frameworks`` list of a results document, from its ``controls`` entries."""
    by_key = {(c["pack"], c["id"]): c for c in controls}
    out = []
    for fw in frameworks:
        requirements = []
        for req in fw.requirements:
            entry: dict[str, Any] = {
                "id": req.id, "title": req.title, "section": req.section,
                "section_title": fw.section_title(req.section), "assessment": req.assessment,
                "status": "", "reason": None,
                "controls": [_contribution(fw, m, by_key.get((m.pack, m.control))) for m in req.controls],
            }
            for name in ("statement", "audit"):
                if name in req.data:
                    entry[name] = req.data[name]
            requirements.append(entry)
        doc = {"id": fw.id, "title": fw.title, "version": fw.version, "sha256": fw.sha256,
               "source": fw.meta["source"], "rule": VERDICT_RULE, "score": None, "coverage": None, "counts": {},
               "automated": 0, "requirements_total": 0, "packs": fw.pack_ids(),
               "sources": {k: dict(v) for k, v in sorted(fw.sources.items())}, "requirements": requirements}
        _judge_framework(doc, by_key, waivers)
        out.append(doc)
    return out


def _judge_framework(doc: dict[str, Any], by_key: dict[tuple[str, str], dict[str, Any]], waivers: bool) -> None:
    """(Re)compute each requirement's verdict and the framework's score, coverage and counts in place."""
    counts = {s: 0 for s in REQUIREMENT_STATUSES}
    for req in doc["requirements"]:
        refs = [(c["pack"], c["id"]) for c in req["controls"]]
        req["status"], req["reason"] = requirement_verdict(req["assessment"], refs, by_key)
        for contribution in req["controls"]:
            entry = by_key.get((contribution["pack"], contribution["id"]))
            contribution["status"] = entry["status"] if entry else "not_assessed"
        counts[req["status"]] += 1
    scored = score_controls(({"status": r["status"], "assessment": r["assessment"], "weight": 1.0}
                             for r in doc["requirements"]), waivers=waivers)
    doc.update(score=scored["score"], coverage=scored["coverage"], counts=counts, automated=scored["automated"],
               requirements_total=len(doc["requirements"]))
    if "score_without_waivers" in scored:
        doc["score_without_waivers"] = scored["score_without_waivers"]


def refresh_frameworks(results: dict[str, Any]) -> dict[str, Any]:
    """Recompute ``results["frameworks"]`` from its ``controls`` (after waivers changed statuses); in place.

    Needs no pack: each requirement keeps the (pack, id) of its mapped controls in the document.
    """
    by_key = {(c["pack"], c["id"]): c for c in results.get("controls", [])}
    for doc in results.get("frameworks") or []:
        _judge_framework(doc, by_key, "waivers" in results)
    return results


def _contribution(fw: Framework, mapping: Mapping, control: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"pack": mapping.pack, "id": mapping.control,
                             "title": control["title"] if control else None,
                             "status": control["status"] if control else "not_assessed",
                             "source": mapping.source, "verified": bool(fw.sources[mapping.source]["verified"])}
    if mapping.note:
        entry["note"] = mapping.note
    return entry
