"""Container essentials: ages measured against the evidence's collected_at, parameters per run."""

from __future__ import annotations

import copy

from controlfixtures import load_base

from auditor.collect.collected import Collected
from auditor.evidence.bundle import build_bundle
from auditor.judging.engine import evaluate
from auditor.packs.loader import find_pack_paths, load_pack


def _bundle(collected_at: str | None, started: str, created: str) -> dict:
    collected = Collected()
    container = load_base("container")
    container["inspect"]["State"]["StartedAt"] = started
    image = load_base("image")
    image["inspect"]["Created"] = created
    collected.add("docker.container", container)
    collected.add("docker.image", image)
    collected.add("docker.daemon", load_base("daemon"))
    doc = build_bundle(collected, host="fixture", collected_at=collected_at or "x")
    if collected_at is None:
        del doc["metadata"]["collected_at"]
    return doc


def _verdicts(evidence: dict, overrides: dict | None = None) -> dict[str, str]:
    pack = load_pack(find_pack_paths()["container-essentials"], overrides)
    [(_, verdicts)] = evaluate(evidence, [pack])
    return {c.id: v["status"] for c, v in verdicts if c.id in ("5.1", "5.2")}


def test_ages_follow_collected_at_not_the_clock():
    # started 40 days and built 100 days before collection: both too old with the defaults (30, 90)
    old = _bundle("2026-03-01T00:00:00Z", "2026-01-20T00:00:00Z", "2025-11-21T00:00:00Z")
    assert _verdicts(old) == {"5.1": "fail", "5.2": "fail"}
    # the same timestamps collected earlier are young enough; the wall clock plays no part
    young = _bundle("2026-01-25T00:00:00Z", "2026-01-20T00:00:00Z", "2025-11-21T00:00:00Z")
    assert _verdicts(young) == {"5.1": "pass", "5.2": "pass"}
    assert _verdicts(copy.deepcopy(old)) == _verdicts(old)


def test_age_limits_are_parameters():
    evidence = _bundle("2026-03-01T00:00:00Z", "2026-02-20T00:00:00Z", "2026-01-01T00:00:00Z")
    assert _verdicts(evidence) == {"5.1": "pass", "5.2": "pass"}
    assert _verdicts(evidence, {"max_container_age_days": 7, "max_image_age_days": 30}) == \
        {"5.1": "fail", "5.2": "fail"}


def test_no_collection_time_is_an_error_not_a_pass():
    evidence = _bundle(None, "2026-02-20T00:00:00Z", "2026-01-01T00:00:00Z")
    assert _verdicts(evidence) == {"5.1": "error", "5.2": "error"}
