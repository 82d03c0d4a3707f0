"""An evidence bundle as text framed for a log: how a node collector Job hands its bundle back
through the pod's log (`auditor collect node -o -`), so a log cut off midway, a line lost or a
log that is not a bundle at all is detected, never taken for evidence.

    -----BEGIN AUDITOR EVIDENCE v1 bytes=N sha256=HEX-----
    base64 of the gzip-compressed bundle JSON, 76 characters a line
    -----END AUDITOR EVIDENCE sha256=HEX-----

N and HEX are the length and SHA-256 of the compressed bytes. Lines between the markers that are
not base64 (a warning the container wrote on stderr, which the log interleaves) are skipped: the
length and hash prove the payload complete. The bundle inside still carries its own sha256.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
from typing import Any

from auditor.common.errors import InputError
from auditor.common.jsonio import json_chunks
from auditor.evidence.bundle import check_bundle

BEGIN = "-----BEGIN AUDITOR EVIDENCE v1"
END = "-----END AUDITOR EVIDENCE"
_BEGIN = re.compile(r"^-----BEGIN AUDITOR EVIDENCE v1 bytes=(\d+) sha256=([0-9a-f]{64})-----$")
_END = re.compile(r"^-----END AUDITOR EVIDENCE sha256=([0-9a-f]{64})-----$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=]+$")
LINE = 76


def frame_bundle(doc: dict[str, Any]) -> str:
    """The bundle as framed text (ends with a newline)."""
    raw = "".join(json_chunks(doc)).encode()
    payload = gzip.compress(raw, compresslevel=6, mtime=0)
    digest = hashlib.sha256(payload).hexdigest()
    text = base64.b64encode(payload).decode()
    lines = [f"{BEGIN} bytes={len(payload)} sha256={digest}-----"]
    lines += [text[i:i + LINE] for i in range(0, len(text), LINE)]
    lines.append(f"{END} sha256={digest}-----")
    return "\n".join(lines) + "\n"


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return (line[:120] + "...") if len(line) > 120 else line


def read_framed(text: str, source: str) -> dict[str, Any]:
    """The bundle in framed text (a Job's log); InputError naming `source` when there is none,
    when it was cut off, or when its length or hash does not match."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith(BEGIN)), None)
    if start is None:
        first = _first_line(text)
        raise InputError(f"{source}: holds no framed evidence bundle"
                         + (f" (it says: {first!r})" if first else " (empty)"))
    match = _BEGIN.match(lines[start].strip())
    if match is None:
        raise InputError(f"{source}: line {start + 1}: malformed evidence frame header")
    size, digest = int(match.group(1)), match.group(2)
    chunks = []
    end = None
    for i in range(start + 1, len(lines)):
        line = lines[i].strip()
        if line.startswith(END):
            end = i
            break
        if _BASE64.match(line):
            chunks.append(line)
    try:
        payload = base64.b64decode("".join(chunks), validate=True)
    except (binascii.Error, ValueError):
        payload = b""
    if end is None:
        raise InputError(f"{source}: the evidence was cut off: {len(payload):,} of {size:,} bytes before the "
                         "log ends (no END line)")
    closing = _END.match(lines[end].strip())
    if closing is None or closing.group(1) != digest:
        raise InputError(f"{source}: line {end + 1}: the END line does not match the BEGIN line")
    if len(payload) != size or hashlib.sha256(payload).hexdigest() != digest:
        raise InputError(f"{source}: the evidence is damaged: {len(payload):,} bytes with sha256 "
                         f"{hashlib.sha256(payload).hexdigest()[:16]}..., the frame says {size:,} bytes with "
                         f"{digest[:16]}... (lines lost or altered)")
    try:
        doc = json.loads(gzip.decompress(payload))
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{source}: the framed evidence is not a gzip-compressed JSON document: {exc}") from None
    return check_bundle(doc, source)
