"""docs/security.md names, for every family of faults of issue 18, the tests that cover it: every
family has a row, and every test it names exists (a renamed or deleted test fails here)."""

from __future__ import annotations

import ast
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = ("time", "could not check", "tracebacks", "escape by race", "integrity", "outputs", "unbounded",
            "error text")
HEADING = "## A fault is never a pass (issue 18): each family and its test"


def _section() -> str:
    with open(os.path.join(REPO, "docs", "security.md"), encoding="utf-8") as fh:
        text = fh.read()
    assert text.count("## A fault is never a pass") == 1, "one section, not two"
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    return text[start:end if end != -1 else None]


def _rows() -> dict[str, str]:
    rows = {}
    for line in _section().splitlines():
        if line.startswith("| ") and not line.startswith(("| family", "|---")):
            rows[line[2:].split(" | ", 1)[0]] = line
    return rows


def _tests_of(path: str) -> set[str]:
    with open(os.path.join(REPO, path), encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name.startswith("test_")}


def test_every_family_of_issue_18_has_its_row_in_order():
    assert tuple(_rows()) == FAMILIES


def test_every_family_names_tests_and_every_named_test_exists():
    for family, row in _rows().items():
        cell = row.rsplit(" | ", 1)[1]
        named = []
        current = None
        for ref in re.findall(r"`([^`]+)`", cell):
            if "::" not in ref:
                continue
            path, name = ref.split("::", 1)
            current = path or current  # `::test_x` continues the file named before it
            assert current, (family, ref)
            named.append((current, re.sub(r"\[.*\]$", "", name)))
        assert named, f"{family}: no test named"
        for path, name in named:
            assert os.path.exists(os.path.join(REPO, path)), (family, path)
            assert name in _tests_of(path), f"{family}: {path}::{name} does not exist"
