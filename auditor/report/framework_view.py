"""The framework view of a results document: per framework, its score and each requirement's verdict.

Read from ``results["frameworks"]`` (see docs/frameworks.md) and nothing else: a requirement keeps
the (pack, id) of its contributing controls and their statuses, so a report of an archived results
file shows the same view. Values stay data; the template escapes them.
"""

from __future__ import annotations

from typing import Any


def _formulas() -> tuple[str, str]:
    """The framework score and coverage formulas, as the code computes them (auditor.packs.frameworks)."""
    from auditor.judging.framework_scores import COVERAGE_FORMULA, SCORE_FORMULA

    return SCORE_FORMULA, COVERAGE_FORMULA


def _contribution(entry: dict[str, Any], sources: dict[str, Any],
                  anchors: dict[tuple[str, str], str]) -> dict[str, Any]:
    from auditor.report.formatting import status_class, status_label

    key = (str(entry.get("pack", "")), str(entry.get("id", "")))
    status = str(entry.get("status", "not_assessed"))
    source = str(entry.get("source", ""))
    meta = sources.get(source) if isinstance(sources.get(source), dict) else {}
    verified = entry.get("verified", meta.get("verified"))
    anchor = anchors.get(key)
    return {"ref": f"{key[0]}:{key[1]}", "pack": key[0], "id": key[1], "title": str(entry.get("title") or ""),
            "status": status,
            "status_label": status_label(status), "cls": status_class(status), "anchor": anchor,
            "source": source, "unverified": verified is not True, "note": str(entry.get("note") or "")}


def _by_pack(contributions: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Contributions grouped by pack (first-seen order), and within a pack by verdict, mapping
    source and note: the PDF prints one line per pack, "FAIL 5.1, 5.3 (sp800-190); N/A 2.4
    (judgement, unverified)", not one verdict and source per control, and a note that many
    mappings share (a crosswalk row) once for them all."""
    groups: dict[str, dict[tuple[str, str, bool, str], dict[str, Any]]] = {}
    for c in contributions:
        runs = groups.setdefault(c["pack"], {})
        run = runs.setdefault((c["status"], c["source"], c["unverified"], c["note"]), {
            "status_label": c["status_label"], "source": c["source"], "unverified": c["unverified"],
            "note": c["note"], "ids": []})
        run["ids"].append(c["id"])
    return [(pack, list(runs.values())) for pack, runs in groups.items()]


def _names_only(reason: Any, prefix: str, listed: set[str]) -> bool:
    """Whether ``reason`` is ``prefix`` and a comma list of references, all in ``listed``."""
    if not isinstance(reason, str) or not reason.startswith(prefix):
        return False
    names = [n.strip() for n in reason[len(prefix):].split(",")]
    return bool(names) and all(n in listed for n in names)


def framework_views(frameworks: list[dict[str, Any]],
                    anchors: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    """One view per framework: score, coverage, counts, sources, requirements grouped by section.

    ``anchors`` maps (pack, control id) to the anchor of the control's details in the report (only
    the controls whose details the report prints: the PDF leaves out passing ones).
    """
    from auditor.report.formatting import as_text, fmt_pct, ordered_statuses, status_class, status_label

    if not frameworks:
        return []
    score_formula, coverage_formula = _formulas()
    out = []
    for i, fw in enumerate(frameworks):
        sources = fw.get("sources") if isinstance(fw.get("sources"), dict) else {}
        counts = fw.get("counts") if isinstance(fw.get("counts"), dict) else {}
        sections: list[dict[str, Any]] = []
        unverified = 0
        for req in fw.get("requirements") or []:
            if not isinstance(req, dict):
                continue
            section = str(req.get("section", ""))
            if not sections or sections[-1]["id"] != section:
                sections.append({"id": section, "title": str(req.get("section_title") or ""), "requirements": []})
            status = str(req.get("status", "not_assessed"))
            contributions = [_contribution(c, sources, anchors)
                             for c in req.get("controls") or [] if isinstance(c, dict)]
            unverified += sum(1 for c in contributions if c["unverified"])
            manual = req.get("assessment") == "manual"
            reason = req.get("reason")
            listed = {c["ref"] for c in contributions if c["status"] == "not_assessed"}
            sections[-1]["requirements"].append({
                "id": str(req.get("id", "")), "title": str(req.get("title", "")), "status": status,
                "status_label": status_label(status), "cls": status_class(status), "manual": manual,
                "assessment": str(req.get("assessment", "")), "statement": str(req.get("statement") or ""),
                "audit": str(req.get("audit") or ""), "controls": contributions,
                "by_pack": _by_pack(contributions),
                # a manual requirement's reason only says "see the audit text": the audit text is shown instead
                "reason": "" if not reason or (manual and req.get("audit")) else as_text(reason),
                # "not evaluated: P:C, ...", every control it names listed NOT ASSESSED below it: print
                # leaves the reason out (the same ids twice)
                "reason_listed": status == "not_assessed" and _names_only(reason, "not evaluated: ", listed),
            })
        out.append({
            "anchor": f"fw-{i}", "id": str(fw.get("id", "")), "title": str(fw.get("title", "")),
            "version": str(fw.get("version", "")), "source": str(fw.get("source") or ""),
            "score": fmt_pct(fw.get("score")), "coverage": fmt_pct(fw.get("coverage")),
            "score_without_waivers": fmt_pct(fw["score_without_waivers"]) if "score_without_waivers" in fw else None,
            "automated": fw.get("automated"), "total": fw.get("requirements_total"),
            "counts": [(s, status_label(s), status_class(s), counts[s]) for s in ordered_statuses(counts)
                       if counts.get(s)],
            "rule": str(fw.get("rule") or ""), "score_formula": score_formula, "coverage_formula": coverage_formula,
            "sources": [{"id": str(k), "kind": str(v.get("kind", "")), "verified": v.get("verified") is True,
                         "citation": str(v.get("citation", "")).rstrip(". ") + ".", "note": str(v.get("note") or "")}
                        for k, v in sources.items() if isinstance(v, dict)],
            "packs": [str(p) for p in fw.get("packs") or []],
            "sections": sections, "unverified": unverified,
        })
    return out
