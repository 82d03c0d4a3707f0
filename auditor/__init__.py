"""auditor: a container compliance auditor (CIS Docker, CIS Kubernetes, PSS, NIST, PCI DSS).

The audit is callable from Python (see :mod:`auditor.api`)::

    from auditor import audit, Sources, Judging, Outputs
    outcome = audit(Sources(targets=["docker"]), Judging(fail_on="high"), Outputs(pdf=False))

The names are loaded on first use, so ``import auditor`` stays cheap for the command line.
"""

from __future__ import annotations

from typing import Any

from auditor.common.version import __version__

_API = ("audit", "collect", "evaluate", "Sources", "Judging", "Outputs", "Outcome", "CollectionInterrupted")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from auditor import api

        return getattr(api, name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")
