"""What a collector returns: items per evidence target, the sources it read and what went wrong.

Collectors fill a :class:`Collected`; :func:`auditor.evidence.bundle.build_bundle` turns one or
more of them into the evidence document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Collected:
    """What one collector gathered: items per target, and what went wrong on the way."""

    targets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    target_errors: dict[str, str] = field(default_factory=dict)

    def add(self, target: str, item: dict[str, Any]) -> None:
        self.targets.setdefault(target, []).append(item)

    def source(self, name: str, status: str = "ok", detail: str = "") -> None:
        self.sources.append({"name": name, "status": status, "detail": detail})

    def error(self, source: str, message: str, targets: tuple[str, ...] = ()) -> None:
        """Record a failed source; `targets` lists whole targets it leaves uncollected."""
        self.errors.append({"source": source, "message": message})
        for target in targets:
            self.target_errors.setdefault(target, message)

    def merge(self, other: Collected) -> None:
        for target, items in other.targets.items():
            self.targets.setdefault(target, []).extend(items)
        self.sources.extend(other.sources)
        self.errors.extend(other.errors)
        for target, message in other.target_errors.items():
            self.target_errors.setdefault(target, message)
