"""The one line every report (terminal summary, HTML, PDF) gives about redaction: how many values
the redaction stage removed from the evidence and from which fields, counts only, never a value
(the counts by field are `evidence.redactions` in the results, `metadata.redactions` in the bundle)."""

from __future__ import annotations

from typing import Any

# Fields named in the line, the most redacted first; the rest are counted.
NAMED_FIELDS = 3


def redaction_line(evidence: Any) -> str:
    """One line, e.g. "Redacted from the evidence before evaluation: 41 values in 7 fields
    (k8s.container:container.args[] 12, ...; and 4 more fields); values are never stored"."""
    found = evidence.get("redactions") if isinstance(evidence, dict) else None
    by_field = found.get("by_field") if isinstance(found, dict) else None
    if not isinstance(by_field, dict):
        return "Redaction: this evidence records no redaction counts (it was not collected by this auditor version)."
    counts = {str(k): v for k, v in by_field.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}
    total = sum(counts.values())
    if not total:
        return "Redaction: no secret-looking value was found in the evidence (0 values redacted)."
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    named = ", ".join(f"{field} {n:,}" for field, n in top[:NAMED_FIELDS])
    more = f"; and {len(top) - NAMED_FIELDS:,} more fields" if len(top) > NAMED_FIELDS else ""
    fields = "field" if len(top) == 1 else "fields"
    values = "value" if total == 1 else "values"
    return (f"Redacted from the evidence before evaluation: {total:,} {values} in {len(top):,} {fields} "
            f"({named}{more}); values are never stored.")
