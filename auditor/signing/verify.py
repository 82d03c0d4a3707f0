"""`auditor verify FILE...`: check offline what a signed run says about itself.

For each file given:
- an attestation (``*.attestation.json``): its DSSE signature, the signer against ``--trust``, and
  the sha256 of every file it names that lies beside it;
- a PDF report: its PAdES signature (intact, covering the whole file, signer trusted), and its
  digest in the run's attestation;
- an evidence, results, HTML or OSCAL file: its digest in the attestation beside it (the same
  run name), and for an evidence bundle also its own content hash.

A file is verified only when every check holds; anything else (no attestation, a changed byte, an
untrusted or missing signer) is a failure with the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.common.errors import InputError
from auditor.signing.attestation import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    SUFFIX,
    file_sha256,
    pae,
    signature_valid,
)

MAX_ENVELOPE = 16 * 2**20
RUN_SUFFIXES = (".evidence.json", ".results.json", ".oscal.json", ".html", ".pdf", SUFFIX)


@dataclass
class Check:
    path: str
    ok: bool
    message: str


def run_stem(path: str) -> str:
    """The run's file name stem of one of its files (``docker-host-2026...`` of ``...results.json``)."""
    name = os.path.basename(path)
    for suffix in RUN_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name.rsplit(".", 1)[0]


def _load_trust(paths: Sequence[str]) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    out = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            out.append(x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.PEM))
        except OSError as exc:
            raise InputError(f"--trust {path}: cannot read: {exc.strerror or exc}") from None
        except ValueError:
            raise InputError(f"--trust {path}: not a PEM certificate") from None
    return out


def _trusted(cert_pem: bytes, trusted: list[bytes]) -> bool:
    """The certificate is one of the trusted ones, or issued (signed) directly by one of them."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    for anchor_pem in trusted:
        anchor = x509.load_pem_x509_certificate(anchor_pem)
        if anchor == cert:
            return True
        try:
            cert.verify_directly_issued_by(anchor)
            return True
        except Exception:  # not issued by this anchor (wrong issuer, bad signature, not a CA key)
            continue
    return False


def read_envelope(path: str, trusted: list[bytes]) -> tuple[dict | None, str]:
    """(statement, problem): the signed statement when the envelope verifies and its signer is trusted."""
    try:
        if os.path.getsize(path) > MAX_ENVELOPE:
            return None, f"larger than {MAX_ENVELOPE >> 20} MiB: not an attestation of auditor's"
        with open(path, encoding="utf-8") as fh:
            envelope = json.load(fh)
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = envelope["signatures"]
        if envelope.get("payloadType") != PAYLOAD_TYPE or not isinstance(signatures, list) or not signatures:
            return None, "not a DSSE envelope of an in-toto statement"
        doc = json.loads(payload)
        signer = doc["predicate"]["signer"]["certificate"].encode("ascii")
        if doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
            return None, "not an auditor run attestation"
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, UnicodeError):
        return None, "not a readable attestation (DSSE envelope expected)"
    try:
        sound = any(isinstance(s, dict) and signature_valid(signer, pae(PAYLOAD_TYPE, payload),
                                                             base64.b64decode(str(s.get("sig", "")), validate=True))
                    for s in signatures)
    except (ValueError, binascii.Error):
        sound = False
    if not sound:
        return None, "the signature does not match the statement (changed after signing)"
    fingerprint = doc["predicate"]["signer"].get("sha256", "?")
    if not trusted:
        return None, f"signature sound; signer sha256 {str(fingerprint)[:16]} not checked: pass --trust CERT"
    if not _trusted(signer, trusted):
        return None, f"signature sound, but the signer (sha256 {str(fingerprint)[:16]}) is not trusted"
    return doc, ""


def _check_subjects(envelope_path: str, doc: dict, only: str | None = None) -> list[Check]:
    """Digests of the statement's files lying beside the attestation (or only the one named)."""
    folder = os.path.dirname(envelope_path)
    checks = []
    for subject in doc.get("subject") or []:
        name = str(subject.get("name", ""))
        if os.path.basename(name) != name or not name or (only is not None and name != only):
            continue
        path = os.path.join(folder, name)
        want = (subject.get("digest") or {}).get("sha256")
        if not os.path.exists(path):
            checks.append(Check(path, False, "named by the attestation but missing"))
            continue
        got = file_sha256(path)
        checks.append(Check(path, got == want, f"sha256 {got[:16]} as signed" if got == want
                            else f"sha256 {got[:16]} differs from the signed {str(want)[:16]} (changed after signing)"))
    if only is not None and not checks:
        checks.append(Check(os.path.join(folder, only), False, f"not named by {os.path.basename(envelope_path)}"))
    return checks


def verify(paths: Sequence[str], trust: Sequence[str] = ()) -> list[Check]:
    """One or more checks per file given; every check must hold for the file to be verified."""
    from auditor.signing.keys import crypto_modules

    crypto_modules(pdf=any(p.endswith(".pdf") for p in paths))
    trusted = _load_trust(trust)
    checks: list[Check] = []
    seen: set[tuple[str, str]] = set()
    for path in paths:
        if not os.path.exists(path):
            checks.append(Check(path, False, "no such file"))
            continue
        if path.endswith(SUFFIX):
            doc, problem = read_envelope(path, trusted)
            if doc is None:
                checks.append(Check(path, False, problem))
                continue
            pred = doc["predicate"]
            checks.append(Check(path, True, f"signed by a trusted signer: auditor {pred.get('auditor_version')}, "
                                f"packs {', '.join(str(p.get('id')) for p in pred.get('packs') or []) or 'none'}"))
            checks.extend(_check_subjects(path, doc))
            continue
        if path.endswith(".pdf"):
            from auditor.signing.pdf_signature import check_pdf

            ok, message = check_pdf(path, trusted)
            checks.append(Check(path, ok, message))
        if path.endswith(".evidence.json"):
            from auditor.evidence.bundle import load_bundle

            try:
                load_bundle(path)
                checks.append(Check(path, True, "evidence content hash (sha256 field) matches"))
            except InputError as exc:
                checks.append(Check(path, False, str(exc)))
        envelope = os.path.join(os.path.dirname(path), run_stem(path) + SUFFIX)
        if not os.path.exists(envelope):
            checks.append(Check(path, False, f"no attestation beside it ({os.path.basename(envelope)}): unsigned"))
            continue
        doc, problem = read_envelope(envelope, trusted)
        if doc is None:
            checks.append(Check(path, False, f"{os.path.basename(envelope)}: {problem}"))
            continue
        checks.extend(_check_subjects(envelope, doc, only=os.path.basename(path)))
    unique = []  # a file named on the command line and by an attestation given too: checked once
    for check in checks:
        if (os.path.normpath(check.path), check.message) not in seen:
            seen.add((os.path.normpath(check.path), check.message))
            unique.append(check)
    return unique
