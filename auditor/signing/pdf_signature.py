"""The PDF report signed as PAdES (baseline B-B, SHA-256) with pyHanko.

The signature is an incremental update appended to the file WeasyPrint wrote, so the PDF/A-3b
identification, the attached results file, the outline and the page text are untouched; the
signature field is invisible (no page is changed). Verifiers check it with `auditor verify` or any
PAdES-aware reader, against the signer's certificate.
"""

from __future__ import annotations

import io
from typing import Any

FIELD = "AuditorSignature"


def _signer(signing_key: Any) -> Any:
    from asn1crypto import keys as akeys
    from asn1crypto import pem
    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    _, _, der = pem.unarmor(signing_key.cert_pem)
    cert = ax509.Certificate.load(der)
    key_der = signing_key.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    return signers.SimpleSigner(signing_cert=cert, signing_key=akeys.PrivateKeyInfo.load(key_der),
                                cert_registry=SimpleCertificateStore.from_certs([cert]))


def sign_pdf(path: str, signing_key: Any) -> None:
    """Sign the PDF at ``path`` in place (written to a temporary file, then renamed)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    from auditor.common.jsonio import write_text_atomic

    with open(path, "rb") as fh:
        data = fh.read()
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    meta = signers.PdfSignatureMetadata(field_name=FIELD, subfilter=SigSeedSubFilter.PADES,
                                        md_algorithm="sha256", reason="auditor compliance report",
                                        name=None)
    out = signers.sign_pdf(writer, meta, signer=_signer(signing_key))
    write_text_atomic(path, out.getvalue())


def check_pdf(path: str, trusted_pem: list[bytes]) -> tuple[bool, str]:
    """(verified, what was found) for the PAdES signature of the PDF at ``path``."""
    import logging

    from asn1crypto import pem
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    for name in ("pyhanko", "pyhanko_certvalidator"):  # they log a traceback for an untrusted signer
        logging.getLogger(name).setLevel(logging.CRITICAL)
    roots = [ax509.Certificate.load(pem.unarmor(c)[2]) for c in trusted_pem]
    with open(path, "rb") as fh:
        try:
            reader = PdfFileReader(fh, strict=False)
            signatures = reader.embedded_signatures
        except Exception as exc:  # a damaged file: not verified, never a traceback
            return False, f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})"
        if not signatures:
            return False, "no signature in the PDF"
        sig = signatures[-1]
        try:
            status = validate_pdf_signature(sig, ValidationContext(trust_roots=roots, allow_fetching=False))
        except Exception as exc:
            return False, f"signature could not be validated ({type(exc).__name__}: {str(exc)[:120]})"
    cert = status.signing_cert
    who = f"signer {cert.subject.human_friendly!r} sha256 {cert.sha256.hex()[:16]}"
    if not (status.intact and status.valid):
        return False, f"signature does not match the file (changed after signing); {who}"
    if str(status.coverage).rsplit(".", 1)[-1] != "ENTIRE_FILE":
        return False, f"the signature does not cover the whole file ({status.coverage}); {who}"
    if not status.trusted:
        return False, (f"signature intact, but the signer is not trusted ({who}; pass --trust CERT)"
                       if roots else f"signature intact; {who} not checked: pass --trust CERT")
    return True, f"PAdES signature intact, covers the whole file, {who}, trusted"
