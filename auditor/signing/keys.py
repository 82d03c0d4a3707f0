"""The signing key and its certificate: made by `auditor keygen DIR`, read by `--sign-key`.

A key is a PEM file with the private key (ECDSA P-256 by default; RSA and Ed25519 keys are read
too); its X.509 certificate is in the same file, or beside it with the extension ``.crt`` in place
of ``.key``, or given with ``--sign-cert``. `auditor keygen` makes a self-signed certificate:
verifiers then trust that very certificate (``auditor verify --trust CERT``); an organisation's
CA-issued certificate works the same way with the CA certificate as the trust anchor.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from auditor.common.errors import InputError

KEY_NAME = "auditor-signing.key"
CERT_NAME = "auditor-signing.crt"
VALID_DAYS = 3 * 365


def crypto_modules(pdf: bool = False) -> Any:
    try:
        import cryptography  # noqa: F401
        if pdf:
            import pyhanko  # noqa: F401
    except ImportError:  # pragma: no cover - the extra is part of the test install
        raise InputError("signing and verifying need the 'sign' extra: python3 -m pip install 'auditor[sign]' "
                         "(cryptography, pyHanko)") from None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509, serialization


@dataclass
class SigningKey:
    """A private key, its certificate (PEM bytes) and the paths they came from."""

    key: Any
    cert_pem: bytes
    key_path: str
    cert_path: str

    @property
    def cert_sha256(self) -> str:
        return cert_fingerprint(self.cert_pem)


def cert_fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of a certificate's DER bytes, hex: how reports and verifiers name a signer."""
    x509, serialization = crypto_modules()
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def generate(directory: str, common_name: str = "auditor evidence signer") -> tuple[str, str]:
    """Write a new ECDSA P-256 key (mode 0600) and a self-signed certificate into ``directory``."""
    x509, serialization = crypto_modules()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, exist_ok=True)
    key_path, cert_path = os.path.join(directory, KEY_NAME), os.path.join(directory, CERT_NAME)
    for path in (key_path, cert_path):
        if os.path.exists(path):
            raise InputError(f"{path}: exists; keygen never overwrites a key (choose another folder)")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(now + _dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_bytes)
    with open(cert_path, "xb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def load(key_path: str, cert_path: str | None = None) -> SigningKey:
    """Read a signing key and its certificate; a clear one-line error for anything wrong."""
    x509, serialization = crypto_modules(pdf=True)
    try:
        with open(key_path, "rb") as fh:
            key_pem = fh.read()
    except OSError as exc:
        raise InputError(f"--sign-key {key_path}: cannot read: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"--sign-key {key_path}: not an unencrypted PEM private key ({exc})") from None
    if cert_path is None and b"-----BEGIN CERTIFICATE-----" in key_pem:
        cert_pem, cert_path = key_pem[key_pem.index(b"-----BEGIN CERTIFICATE-----"):], key_path
    else:
        if cert_path is None:
            stem = key_path[:-4] if key_path.endswith(".key") else key_path
            cert_path = stem + ".crt"
        try:
            with open(cert_path, "rb") as fh:
                cert_pem = fh.read()
        except OSError as exc:
            raise InputError(f"--sign-cert {cert_path}: cannot read the key's certificate: "
                             f"{exc.strerror or exc} (give it with --sign-cert)") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise InputError(f"{cert_path}: not a PEM certificate ({exc})") from None
    ours = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = cert.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    if ours != theirs:
        raise InputError(f"{cert_path}: this certificate is not for the key {key_path}")
    return SigningKey(key, cert.public_bytes(serialization.Encoding.PEM), key_path, cert_path)
