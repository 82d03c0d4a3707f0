"""The run's attestation: a DSSE envelope over an in-toto statement (v1) whose subjects are the
files the run wrote, each with its sha256, and whose predicate names the auditor version, the
packs and frameworks judged (with their digests), the evidence content hash and the signer's
certificate. Written as ``<run>.attestation.json`` beside the results; checked by `auditor verify`.

The signature is over DSSE's pre-authentication encoding of the payload (ECDSA P-256 with
SHA-256 for keys made by `auditor keygen`; RSA PKCS#1 v1.5 and Ed25519 keys work too).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from auditor.common.version import __version__

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://auditor.invalid/attestation/audit-run/v1"
SUFFIX = ".attestation.json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed, so type and body cannot be swapped."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sign(key: Any, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    from auditor.common.errors import InputError

    raise InputError(f"--sign-key: unsupported key type {type(key).__name__} (use ECDSA, RSA or Ed25519)")


def signature_valid(cert_pem: bytes, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``data`` was made by the key of this certificate."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def statement(files: Sequence[str], results: dict[str, Any], cert_pem: bytes, fingerprint: str) -> dict[str, Any]:
    """The in-toto statement of a run: its files (by base name, as they lie together) and what judged them."""
    evidence = results.get("evidence") or {}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": os.path.basename(p), "digest": {"sha256": file_sha256(p)}} for p in files],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "auditor_version": __version__,
            "generated_at": results.get("generated_at"),
            "evidence_sha256": evidence.get("sha256"),
            "evidence_complete": evidence.get("complete"),
            "summary": {k: (results.get("summary") or {}).get(k) for k in ("score", "coverage")},
            "packs": [{"id": p.get("id"), "version": p.get("version"), "sha256": p.get("sha256")}
                      for p in results.get("packs") or []],
            "frameworks": [{"id": f.get("id"), "version": f.get("version"), "sha256": f.get("sha256")}
                           for f in results.get("frameworks") or []],
            "signer": {"certificate": cert_pem.decode("ascii"), "sha256": fingerprint},
        },
    }


def write_attestation(path: str, files: Sequence[str], results: dict[str, Any], signing_key: Any) -> str:
    """Sign the statement of ``files`` and write the DSSE envelope to ``path`` (atomically)."""
    from auditor.common.jsonio import write_json_atomic

    doc = statement(files, results, signing_key.cert_pem, signing_key.cert_sha256)
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    envelope = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode("ascii"),
                "signatures": [{"keyid": signing_key.cert_sha256,
                                "sig": base64.b64encode(_sign(signing_key.key, pae(PAYLOAD_TYPE, payload)))
                                .decode("ascii")}]}
    write_json_atomic(path, envelope)
    return path
