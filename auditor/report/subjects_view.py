"""Which subjects of a control a report lists, and how the rest are counted.

A report lists each control's failing subjects up to a limit (50 in the HTML, 20 in the PDF by
default; ``--html-subjects`` / ``--pdf-subjects``) and says how many more there are and where they
are (the results file, which keeps every finding and is attached to the PDF). Passing subjects
are counted, not listed. Where failing subjects carry a namespace and fall in more than one, the
report also counts them per namespace, so a 40,000-object cluster reads as "which namespaces",
not as a wall of names.

Pure selection over the results document's findings: no formatting here (context.py builds the
rows of the listed findings only, so a control with 10,000 failures costs 50 rows, not 10,000).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

HTML_SUBJECTS = 50
PDF_SUBJECTS = 20
# Namespaces named in the per-namespace count line; the others are summed in one phrase.
NAMESPACES_SHOWN = 12
# Statuses a report lists subject by subject (waived failures stay visible, marked).
LISTED_STATUSES = ("fail", "error")
_ORDER = {"fail": 0, "error": 1}


@dataclass
class SubjectSelection:
    """The findings a report lists for one control, and the counts of the others."""

    listed: list[dict[str, Any]] = field(default_factory=list)
    problems: int = 0          # failing or error findings in the results file
    more: int = 0              # of those, not listed
    passing: int = 0           # passing subjects (counted, never listed)
    other: int = 0             # findings of any other status, not listed
    namespaces: list[tuple[str, int]] = field(default_factory=list)
    other_namespaces: int = 0  # namespaces with failing subjects beyond NAMESPACES_SHOWN
    other_namespaced: int = 0  # failing subjects in those namespaces


def _namespace(finding: dict[str, Any]) -> str | None:
    subject = finding.get("subject")
    if not isinstance(subject, dict):
        return None
    ns = subject.get("namespace")
    return ns if isinstance(ns, str) and ns else None


def select_subjects(findings: Any, subjects: Any, limit: int) -> SubjectSelection:
    """The first ``limit`` failing/error findings (fail before error, namespace order kept) and counts.

    ``subjects`` is the control's ``subjects`` counts of the results file: passing subjects are
    taken from it (a results file lists only some of them), so the counts equal the file's.
    """
    sel = SubjectSelection()
    problems: list[dict[str, Any]] = []
    listed_passes = 0
    for f in findings if isinstance(findings, list) else []:
        if not isinstance(f, dict):
            continue
        status = f.get("status")
        if status in LISTED_STATUSES:
            problems.append(f)
        elif status == "pass":
            listed_passes += 1
        else:
            sel.other += 1
    counts = subjects if isinstance(subjects, dict) else {}
    passing = counts.get("pass")
    sel.passing = passing if isinstance(passing, int) and passing >= listed_passes else listed_passes
    sel.problems = len(problems)
    limit = max(0, int(limit))
    # a stable sort: fail before error, then by namespace so the listed rows come grouped
    problems.sort(key=lambda f: (_ORDER.get(f.get("status"), 2), _namespace(f) or ""))
    sel.listed = problems[:limit]
    sel.more = len(problems) - len(sel.listed)
    by_ns = Counter(ns for ns in map(_namespace, problems) if ns is not None)
    if len(by_ns) > 1 and sel.more:
        ranked = sorted(by_ns.items(), key=lambda kv: (-kv[1], kv[0]))
        sel.namespaces = ranked[:NAMESPACES_SHOWN]
        rest = ranked[NAMESPACES_SHOWN:]
        sel.other_namespaces = len(rest)
        sel.other_namespaced = sum(n for _, n in rest)
    return sel
