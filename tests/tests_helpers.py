"""Small builders shared by tests."""

from __future__ import annotations

import textwrap

from auditor.packs.loader import Pack, load_pack

MINI_CONTROLS = """\
controls:
  - id: "1"
    title: No privileged containers
    section: "9"
    level: 1
    severity: high
    assessment: automated
    target: docker.container
    check: {key: inspect.HostConfig.Privileged, op: eq, value: false}
    rationale: r
    audit: a
    remediation: m
  - id: "2"
    title: Memory is limited
    section: "9"
    level: 1
    severity: low
    assessment: automated
    target: docker.container
    check: {key: inspect.HostConfig.Memory, op: gt, value: 0}
    rationale: r
    audit: a
    remediation: m
  - id: "3"
    title: Running containers only
    section: "9"
    level: 2
    severity: medium
    assessment: automated
    target: docker.container
    where: {key: inspect.State.Running, op: eq, value: true}
    check: {key: inspect.HostConfig.Memory, op: gt, value: 0}
    rationale: r
    audit: a
    remediation: m
  - id: "4"
    title: A person looks
    section: "9"
    level: 1
    severity: low
    assessment: manual
    rationale: r
    audit: a
    remediation: m
"""


def write_pack(tmp_path, controls_text: str, pack_extra: str = "") -> str:
    """A pack folder `mini` with one section ("9") and one controls file; returns its path."""
    folder = tmp_path / "mini"
    (folder / "controls").mkdir(parents=True, exist_ok=True)
    (folder / "pack.yaml").write_text(textwrap.dedent("""\
        id: mini
        kind: benchmark
        title: Mini
        version: "1"
        sections:
          - {id: "9", title: Nine}
        """) + pack_extra)
    (folder / "controls" / "a.yaml").write_text(controls_text)
    return str(folder)


def mini_pack(tmp_path) -> Pack:
    return load_pack(write_pack(tmp_path, MINI_CONTROLS))
