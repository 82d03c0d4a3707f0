"""The CIS Docker pack covers every control of sections 1-7 and automates at least what the
reference implementation automates (../shared/reference/cis-docker-1.6.0.csv)."""

from __future__ import annotations

import csv
import os

import pytest

from auditor.packs.loader import find_pack_paths, load_pack

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "reference", "cis-docker-1.6.0.csv"))


@pytest.fixture(scope="module")
def pack():
    return load_pack(find_pack_paths()["cis-docker-1.6.0"])


def test_counts(pack):
    assert len(pack.controls) == 117
    assert sum(c.assessment == "automated" for c in pack.controls) >= 99


@pytest.mark.skipif(not os.path.exists(REFERENCE), reason="reference catalogue not beside the checkout")
def test_every_reference_control_is_present_and_automated_where_the_reference_is(pack):
    with open(REFERENCE, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["id"].split(".")[0] in "1234567"]
    ids = {c.id: c for c in pack.controls}
    assert sorted(r["id"] for r in rows if r["id"] not in ids) == []
    assert sorted(ids) == sorted(r["id"] for r in rows)
    not_automated = [r["id"] for r in rows if r["automated"] == "yes" and ids[r["id"]].assessment != "automated"]
    assert not_automated == []


def test_manual_controls_say_what_a_person_checks(pack):
    for control in pack.controls:
        if control.assessment == "manual":
            assert len(control.data["audit"]) > 60, control.id
            assert control.target is None and control.check is None
