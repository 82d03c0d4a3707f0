"""Per-control fixtures: found by naming convention, one YAML file per control.

``tests/fixtures/controls/<pack-id>/<control-id>.yaml``::

    base: container            # optional: tests/fixtures/bases/<base>.json under every case
    daemon: {set: {...}}       # optional: changes to the base daemon item every case sees
    collected_at: "2026-01-31T00:00:00Z"   # optional: metadata.collected_at (ages are measured against it)
    params: {version: v1.34}   # optional: pack parameters every case is judged with (as --set)
    cases:
      - name: privileged container
        expect: fail           # pass | fail | error | not_applicable
        set: {"inspect.HostConfig.Privileged": true}   # dotted paths on a copy of the base
        merge: {...}           # deep-merged on the copy (for keys holding dots)
        delete: ["inspect.HostConfig.CapAdd"]
        item: {...}            # instead of base: the whole item
        daemon: {set: {...}}   # per-case changes to the daemon item
        items: [...]           # several items in one case (each as above: set/merge/item)
        params: {version: v1.35} # per-case pack parameters, over the fixture's
        target: k8s.clusterrole  # per item, for controls on several targets (default: the first)
        base: k8s_clusterrole    # per item: another base than the fixture's

Each case becomes an evidence bundle holding the case's item(s) under the control's target (and
the daemon item under ``docker.daemon``); the control alone is evaluated and its verdict compared.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "controls")
BASES = os.path.join(HERE, "fixtures", "bases")


def load_base(name: str) -> dict[str, Any]:
    with open(os.path.join(BASES, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def delete_path(doc: dict[str, Any], path: str) -> None:
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def deep_merge(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            deep_merge(doc[key], value)
        else:
            doc[key] = copy.deepcopy(value)


def apply_changes(item: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if "item" in spec:
        item = copy.deepcopy(spec["item"])
    for path in spec.get("delete", []):
        delete_path(item, path)
    deep_merge(item, spec.get("merge", {}))
    for path, value in (spec.get("set") or {}).items():
        set_path(item, path, copy.deepcopy(value))
    return item


def case_evidence(fixture: dict[str, Any], case: dict[str, Any], target: str) -> dict[str, Any]:
    base = load_base(fixture["base"]) if fixture.get("base") else {}
    specs = case["items"] if "items" in case else [case]
    # a control judging several targets ("k8s.role, k8s.clusterrole"): an item spec may name its
    # own target (`target: k8s.clusterrole`) and base (`base: k8s_clusterrole`); default the first
    names = [name.strip() for name in target.split(",")]
    targets: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for spec in specs:
        start = load_base(spec["base"]) if spec.get("base") else copy.deepcopy(base)
        targets[spec.get("target", names[0])].append(apply_changes(start, spec))
    if target != "docker.daemon":
        daemon = apply_changes(load_base("daemon"), fixture.get("daemon", {}))
        targets["docker.daemon"] = [apply_changes(daemon, case.get("daemon", {}))]
    metadata = {"host": "fixture", "complete": True, "errors": [], "target_errors": {}}
    if fixture.get("collected_at"):
        metadata["collected_at"] = fixture["collected_at"]
    return {"kind": "auditor-evidence", "schema_version": "1", "metadata": metadata, "targets": targets}


def fixture_files() -> list[tuple[str, str, str]]:
    """(pack id, control id, path) of every fixture file."""
    out = []
    if not os.path.isdir(FIXTURES):
        return out
    for pack_id in sorted(os.listdir(FIXTURES)):
        folder = os.path.join(FIXTURES, pack_id)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".yaml"):
                out.append((pack_id, name[: -len(".yaml")], os.path.join(folder, name)))
    return out


def load_fixture(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def case_params(fixture: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """The pack parameters a case is judged with: the fixture's, then the case's own."""
    return {**(fixture.get("params") or {}), **(case.get("params") or {})}
