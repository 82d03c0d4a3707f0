"""JSON in and out for every stage: reading documents that can be written back, canonical and
chunked encoding (for hashing and writing large documents) and atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from auditor.common.errors import InputError
from auditor.common.text import json_escape_controls

# A JSON or YAML escape that may decode to half of a UTF-16 surrogate pair: such a "lone
# surrogate" is a str Python can hold but cannot encode as UTF-8 (writing or hashing it fails).
SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(obj: Any) -> Any:
    """`obj` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(obj, str):
        return _LONE_SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_lone_surrogates(v) for v in obj]
    return obj


def _no_constant(name: str) -> Any:
    raise InputError(f"{name} is not a JSON number")


# Size caps of the files auditor reads back (evidence, results and baselines): far above what a
# 43,000-object cluster makes (about 60 MB of evidence), far below what would exhaust memory.
MAX_DOCUMENT_BYTES = 1 << 30


def read_capped(path: str, limit: int, what: str) -> bytes:
    """The bytes of ``path``, or InputError when it holds more than ``limit`` (checked on the open
    descriptor before reading, and while reading for a pipe or a file that grows)."""
    with open(path, "rb") as fh:
        info = os.fstat(fh.fileno())
        if info.st_size > limit:
            raise InputError(f"{path}: {_size_text(info.st_size)} is over the size limit of {what} "
                             f"({_size_text(limit)})")
        if stat.S_ISREG(info.st_mode):
            data = fh.read()
        else:  # a pipe or a device: read in pieces, never more than the limit
            chunks, total = [], 0
            while total <= limit:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
    if len(data) > limit:
        raise InputError(f"{path}: over the size limit of {what} ({_size_text(limit)})")
    return data


def _size_text(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


def read_json_document(path: str, what: str, finite: bool = False, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """json.load of `path` refusing, as InputError, text that cannot be written back: lone
    surrogate escapes (\\udcff), nesting too deep to decode, integers longer than Python converts
    (4,300 digits), a file over `limit` bytes, and with `finite` NaN and Infinity (which Python
    reads but other JSON readers refuse). OSError, UnicodeDecodeError and JSONDecodeError pass."""
    text = read_capped(path, limit, what).decode("utf-8")
    try:
        doc = json.loads(text, parse_constant=_no_constant) if finite else json.loads(text)
    except InputError as exc:
        raise InputError(f"{path}: not {what}: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: not {what}: JSON nested too deeply to read") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise InputError(f"{path}: not {what}: {integer_limit_text(exc)}") from None
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"{path}: not {what}: a string holds a lone surrogate ({exc.object[exc.start]!a}), "
                             "which is not Unicode text") from None
    return doc


def integer_limit_text(exc: ValueError) -> str:
    """A one-line reason for the ValueError Python raises on an integer too long to convert."""
    text = str(exc)
    if "digits" in text:
        return f"a number has more digits than auditor reads ({sys.get_int_max_str_digits() or 'no limit'})"
    return text.split(";")[0]


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def json_chunks(value: Any, sort_keys: bool = False, depth: int = 3) -> Iterator[str]:
    """The compact JSON text of ``value`` (exactly as ``json.dumps(value, sort_keys=sort_keys,
    separators=(",", ":"), ensure_ascii=False)``) in pieces: dicts and lists down to ``depth``
    levels are opened, what lies below is encoded whole (by the C encoder). A 30 MB bundle is
    hashed or written without ever being one 30 MB string (and a bytes copy of it) beside the
    objects it encodes."""
    if depth and isinstance(value, dict) and all(type(k) is str for k in value):
        yield "{"
        for n, key in enumerate(sorted(value) if sort_keys else value):
            yield ("," if n else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from json_chunks(value[key], sort_keys, depth - 1)
        yield "}"
    elif depth and isinstance(value, list):
        yield "["
        for n, item in enumerate(value):
            if n:
                yield ","
            yield from json_chunks(item, sort_keys, depth - 1)
        yield "]"
    else:
        yield json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)


# Documents up to this size (a Docker host's evidence, a small cluster's results) are indented
# for people; larger ones are written compact, because only the C encoder (no indent) is fast:
# indenting a few megabytes would cost more than collecting them. `jq .` indents any of them.
INDENT_LIMIT = 1_000_000


def json_text(doc: Any) -> str:
    """JSON text of a document: indented when small, compact when large; always ends in a newline.
    DEL, C1 and bidi characters are \\u escapes (auditor.common.text), so none reaches a terminal."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= INDENT_LIMIT:
        text = json.dumps(doc, ensure_ascii=False, indent=1)
    return json_escape_controls(text) + "\n"


# Evidence and results are as sensitive as a configuration backup: only their owner reads them,
# whatever the umask. Reports (and everything else) are created as the umask says.
PRIVATE_MODE = 0o600


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc/self/status), so
    no other thread ever creates a file under a temporary umask."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode() -> int:
    """The mode a new file gets from open(): 0666 less the umask."""
    return 0o666 & ~current_umask()


def json_bytes(doc: Any) -> bytes:
    """The bytes :func:`write_json_atomic` writes for ``doc`` (json_text, with escaped controls)."""
    data = "".join(json_escape_controls(chunk) for chunk in json_chunks(doc)).encode("utf-8")
    if len(data) <= INDENT_LIMIT:
        data = json_escape_controls(json.dumps(doc, ensure_ascii=False, indent=1)).encode("utf-8")
    return data + b"\n"


def write_json_stream(fh: Any, doc: Any, chunks: Iterable[str] | None = None) -> tuple[str, int]:
    """Write the bytes of :func:`json_bytes` for ``doc`` to the binary file ``fh`` in pieces
    (json_chunks), so a large document is never one string and one bytes copy beside the objects
    it encodes; returns the SHA-256 (hex) and the size of what was written. ``fh`` must be
    seekable (a small document is rewritten indented, as json_bytes indents it).

    ``chunks``: the compact text in pieces, when the caller makes them (then ``doc`` may be a
    function giving the document, called only to indent a small one)."""
    digest, size = hashlib.sha256(), 0
    for chunk in json_chunks(doc) if chunks is None else chunks:
        data = json_escape_controls(chunk).encode("utf-8")
        digest.update(data)
        size += len(data)
        fh.write(data)
    if size <= INDENT_LIMIT:  # small: indented for people after all
        fh.seek(0)
        fh.truncate()
        whole = doc() if chunks is not None and callable(doc) else doc
        data = json_escape_controls(json.dumps(whole, ensure_ascii=False, indent=1)).encode("utf-8")
        fh.write(data)
        digest, size = hashlib.sha256(data), len(data)
    fh.write(b"\n")
    digest.update(b"\n")
    return digest.hexdigest(), size + 1


def write_json_atomic(path: str, doc: Any, mode: int | None = None) -> None:
    """Write JSON so the file is either complete or absent (temp file + rename): the text of
    :func:`json_text`, written in pieces (:func:`write_json_stream`), so a large document is
    never held twice. ``mode``: the file's permissions (default: as the umask says)."""
    _write_atomic(path, lambda fh: write_json_stream(fh, doc), mode)


def write_text_atomic(path: str, text: str | bytes, mode: int | None = None) -> None:
    """Write a file so it is either complete or absent (temp file in the same folder + rename);
    ``mode``: its permissions (default: as the umask says)."""
    _write_atomic(path, lambda fh: fh.write(text.encode("utf-8") if isinstance(text, str) else text), mode)


def write_stream_atomic(path: str, write: Callable[[Any], Any], mode: int | None = None) -> None:
    """Write a file with ``write(binary file)``, so it is either complete or absent (as
    :func:`write_text_atomic`)."""
    _write_atomic(path, write, mode)


def _temp_file(directory: str, write: Any, mode: int | None) -> str:
    """A complete temporary file in ``directory`` (so a rename or link into place is atomic)."""
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, umask_mode() if mode is None else mode)  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as fh:
            write(fh)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_atomic(path: str, write: Any, mode: int | None = None) -> None:
    tmp = _temp_file(os.path.dirname(os.path.abspath(path)) or ".", write, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def write_new_file(candidates: Iterator[str] | Any, data: bytes | Callable[[Any], Any], mode: int | None = None,
                   tries: int = 10_000) -> str:
    """Write ``data`` under the first of ``candidates`` (paths in one folder) that no file holds
    yet, atomically and exclusively: the complete temporary file is hard-linked into place, which
    fails if the name exists, so two runs never take one name and nobody sees a partial file.
    ``data`` is bytes, or a function that writes the file's content to the binary file it is given
    (it may be called once; if it raises, the temporary file is removed and nothing is claimed).
    Returns the path written. Where hard links are refused, an exclusive create claims the name
    and a rename fills it."""
    tmp = None
    write = data if callable(data) else (lambda fh: fh.write(data))
    try:
        for n, path in enumerate(candidates):
            if n >= tries:
                break
            if tmp is None:
                tmp = _temp_file(os.path.dirname(os.path.abspath(path)) or ".", write, mode)
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError:
                    continue
                os.replace(tmp, path)
                tmp = None
            return path
        raise InputError(f"no free file name for the run after {tries} tries")
    finally:
        if tmp is not None:
            _unlink_quietly(tmp)
