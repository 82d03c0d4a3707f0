"""The node collector as Kubernetes Jobs: the Job template and the host paths it mounts.

The template (``node_collector_job.yaml``, the same file as
deploy/kubernetes/templates/node-collector-job.yaml) mounts, read-only, the directories that
hold every path ``node_layouts.yaml`` names, each cut to the base directory every Linux node has
(:data:`HOST_BASE_DIRS`), with hostPath type ``Directory``: a hostPath that does not exist is
never created on the node (without a type the container runtime creates missing directories,
which would write to the host and make the collector see a distribution that is not there).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

JOB_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_collector_job.yaml")
HOST_ROOT = "/host"
# Directories every Linux node has; each layout path is mounted through the deepest one above it.
HOST_BASE_DIRS = ("/etc", "/var/lib", "/usr/lib", "/usr/local/lib", "/lib")
# Files read besides the layouts' (owners' names, the node's name): all under /etc.
HOST_FILES = ("/etc/passwd", "/etc/group", "/etc/hostname")


def layout_paths() -> list[str]:
    """Every host path the node layouts name (markers, files, directories), all distributions."""
    from auditor.collect.node import load_layouts

    paths: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith("/"):
            paths.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    walk(load_layouts())
    return sorted(set(paths))


def base_dir(path: str) -> str:
    """The host base directory a path is read through (ValueError when none holds it)."""
    for base in sorted(HOST_BASE_DIRS, key=len, reverse=True):
        if path == base or path.startswith(base + "/"):
            return base
    raise ValueError(f"{path}: under none of {', '.join(HOST_BASE_DIRS)}")


def host_mounts() -> list[str]:
    """The host directories the node collector mounts: the base directories of the layout paths."""
    return sorted({base_dir(p) for p in (*layout_paths(), *HOST_FILES)})


@lru_cache(maxsize=1)
def _template_text() -> str:
    with open(JOB_TEMPLATE, encoding="utf-8") as fh:
        return fh.read()


def job_template() -> dict[str, Any]:
    """A fresh copy of the node collector Job template."""
    from auditor.common.safeyaml import safe_load

    return safe_load(_template_text(), JOB_TEMPLATE)
