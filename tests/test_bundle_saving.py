"""Saving an evidence bundle: a large one is written from the text its hash encoded (kept in a
temporary file), and what is read back is the bundle that was built, byte for byte in content."""

from __future__ import annotations

import json
import os

import auditor.evidence.bundle as bundle
from auditor.collect.collected import Collected
from auditor.common.jsonio import INDENT_LIMIT


def _collected(n: int) -> Collected:
    collected = Collected()
    for i in range(n):  # DEL, a C1 control and a bidi mark: escaped in the file, the same after reading
        collected.add("k8s.pod", {"subject": {"type": "pod", "name": f"ns/p{i}", "namespace": "ns"},
                                  "object": {"metadata": {"name": f"p{i}", "note": "a\x7fb\x85c\u202ed"},
                                             "spec": {"containers": [{"name": "c", "image": "x:1"}]}}})
    collected.source("manifests", "ok")
    return collected


def test_a_large_bundle_is_saved_from_the_text_its_hash_read(tmp_path):
    doc = bundle.build_bundle(_collected(8000))
    assert bundle._KEPT is not None and bundle._KEPT[0] == doc["sha256"]
    path = str(tmp_path / "e.json")
    bundle.save_bundle(doc, path)
    raw = open(path, "rb").read()
    assert len(raw) > INDENT_LIMIT and raw.endswith(b"}\n") and b"\\u007f" in raw and b"\\u202e" in raw
    assert b"\x7f" not in raw and "\u202e".encode() not in raw
    back = bundle.load_bundle(path)  # its sha256 verified on reading
    assert json.dumps(back, sort_keys=True) == json.dumps(doc, sort_keys=True)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_a_bundle_changed_after_it_was_built_is_encoded_as_it_is(tmp_path):
    doc = bundle.build_bundle(_collected(8000))
    doc["targets"]["k8s.pod"] = doc["targets"]["k8s.pod"][:1]
    doc["sha256"] = bundle.content_sha256(doc)
    path = str(tmp_path / "e.json")
    bundle.save_bundle(doc, path)
    back = bundle.load_bundle(path)
    assert len(back["targets"]["k8s.pod"]) == 1 and back["sha256"] == doc["sha256"]


def test_a_small_bundle_keeps_no_copy_and_is_saved_indented(tmp_path):
    doc = bundle.build_bundle(_collected(3))
    assert bundle._KEPT is None
    path = str(tmp_path / "e.json")
    bundle.save_bundle(doc, path)
    assert b'\n "kind"' in open(path, "rb").read()
    assert bundle.load_bundle(path)["sha256"] == doc["sha256"]
