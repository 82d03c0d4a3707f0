"""Fingerprints of certificates, to tell which cluster a node or a kubeconfig belongs to."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.DOTALL)


def first_cert_sha256(pem: str | bytes) -> str | None:
    """SHA-256 (hex) of the DER bytes of the first certificate in PEM text, or None when there is none."""
    text = pem.decode("ascii", errors="replace") if isinstance(pem, bytes) else pem
    match = _PEM_CERT.search(text)
    if match is None:
        return None
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return hashlib.sha256(der).hexdigest()
