"""Bounded reads: the one HTTP layer the Docker and Kubernetes collectors read through.

A hostile or broken daemon, API server or proxy must cost a known amount of time and memory:

- every request has a wall-clock deadline (``timeout``): the socket timeout is recomputed from
  the time left before every receive, so a server trickling one byte a second cannot extend it;
- every source has a deadline too (:class:`Deadline`, ``--deadline``): no request starts after
  it and none runs past it;
- a response is capped in size (:data:`MAX_RESPONSE_BYTES`) and must be complete: a body shorter
  than its Content-Length or a chunked body without its last chunk is an error, not data;
- only GETs are retried, and only when the server says it is safe: 429 or 503 with Retry-After,
  with a growing pause, never past the deadline.

Every failure is a :class:`ReadError` with one line of reason, already passed through
:func:`auditor.common.secrets.redact_text` (a server's error text may echo a request header).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from auditor.common.secrets import redact_text

MAX_RESPONSE_BYTES = 256 << 20   # one answer; a page of 500 pods is a few MB
MAX_HEADER_BYTES = 64 << 10
MAX_RETRIES = 3
MAX_RETRY_WAIT = 10.0
_RECV = 1 << 16


class ReadError(Exception):
    """One failed read, with a one-line (redacted) reason and the HTTP status if one came."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(one_line(reason))
        self.status = status


def one_line(text: object, limit: int = 400) -> str:
    """Server or transport text as one redacted line of at most `limit` characters."""
    line = " ".join(str(text).split())
    return redact_text(line)[:limit]


class Deadline:
    """A wall-clock budget for one source (a daemon, an API server); None means unbounded."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float | None:
        return None if self.end is None else self.end - time.monotonic()

    def expired(self) -> bool:
        left = self.left()
        return left is not None and left <= 0

    def bound(self, timeout: float) -> tuple[float, bool]:
        """(seconds this request may take, whether the source deadline is what limits it)."""
        left = self.left()
        if left is None or timeout <= left:
            return timeout, False
        return max(left, 0.0), True


@dataclass
class Endpoint:
    """Where to connect: a unix socket path, or host and port (with TLS when `tls` is set)."""

    unix_path: str | None = None
    host: str = "localhost"
    port: int = 80
    tls: ssl.SSLContext | None = None
    server_hostname: str | None = None

    def label(self) -> str:
        if self.unix_path:
            return f"unix://{self.unix_path}"
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self, what: str) -> Any:
        """The body as JSON; a cut-off or malformed body is a ReadError naming `what`."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise ReadError(f"{what}: the answer is not valid JSON ({exc})") from None


def _timed_out(timeout: float, by_deadline: bool, deadline: Deadline | None) -> ReadError:
    if by_deadline and deadline is not None:
        return ReadError(f"timed out: the source deadline of {deadline.seconds:g}s passed")
    return ReadError(f"timed out: no complete answer within {timeout:g}s")


class _Conn:
    """One connection whose every receive is bounded by the request's end time."""

    def __init__(self, endpoint: Endpoint, end: float, on_timeout: ReadError) -> None:
        self.end, self.on_timeout = end, on_timeout
        self.buf = b""
        self.sock: socket.socket | None = None
        left = self._left()
        try:
            if endpoint.unix_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(left)
                sock.connect(endpoint.unix_path)
            else:
                sock = socket.create_connection((endpoint.host, endpoint.port), timeout=left)
            self.sock = sock
            if endpoint.tls is not None:
                sock.settimeout(self._left())
                self.sock = endpoint.tls.wrap_socket(sock, server_hostname=endpoint.server_hostname or endpoint.host)
        except TimeoutError:
            self.close()
            raise on_timeout from None
        except OSError as exc:
            self.close()
            raise ReadError(f"cannot connect to {endpoint.label()}: {exc}") from None

    def _left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise self.on_timeout
        return left

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.settimeout(self._left())
            self.sock.sendall(data)
        except TimeoutError:
            raise self.on_timeout from None
        except OSError as exc:
            raise ReadError(f"sending the request failed: {exc}") from None

    def fill(self) -> bool:
        """Receive more bytes into the buffer; False at end of stream."""
        assert self.sock is not None
        try:
            self.sock.settimeout(self._left())
            data = self.sock.recv(_RECV)
        except TimeoutError:
            raise self.on_timeout from None
        except OSError as exc:
            raise ReadError(f"reading the answer failed: {exc}") from None
        self.buf += data
        return bool(data)

    def until(self, marker: bytes, cap: int, what: str) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > cap:
                raise ReadError(f"{what} larger than {cap} bytes")
            if not self.fill():
                raise ReadError(f"the connection closed in the middle of the {what}")
        head, _, self.buf = self.buf.partition(marker)
        return head

    def exactly(self, n: int, cap_left: int, what: str) -> bytes:
        if n > cap_left:
            raise ReadError(f"answer larger than the {MAX_RESPONSE_BYTES} bytes allowed")
        while len(self.buf) < n:
            if not self.fill():
                raise ReadError(f"answer cut off: {what} ({len(self.buf)} of {n} bytes received)")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


def _read_body(conn: _Conn, headers: dict[str, str], method: str, status: int) -> bytes:
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            line = conn.until(b"\r\n", 1024, "chunk header").split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise ReadError("answer cut off or malformed: bad chunk header") from None
            if size == 0:
                return b"".join(parts)
            parts.append(conn.exactly(size, MAX_RESPONSE_BYTES - total, "chunked body"))
            total += size
            conn.exactly(2, 2, "chunk end")
    if "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise ReadError("malformed Content-Length") from None
        if length < 0:
            raise ReadError("malformed Content-Length")
        return conn.exactly(length, MAX_RESPONSE_BYTES, "body shorter than its Content-Length")
    while conn.fill():  # Connection: close, no length: the body ends with the stream
        if len(conn.buf) > MAX_RESPONSE_BYTES:
            raise ReadError(f"answer larger than the {MAX_RESPONSE_BYTES} bytes allowed")
    body, conn.buf = conn.buf, b""
    return body


def request_once(endpoint: Endpoint, method: str, target: str, headers: dict[str, str] | None = None,
                 body: bytes | None = None, timeout: float = 10.0, deadline: Deadline | None = None) -> Response:
    """One HTTP/1.1 request (Connection: close), bounded by `timeout` and the source `deadline`."""
    if deadline is not None and deadline.expired():
        raise _timed_out(timeout, True, deadline)
    limit, by_deadline = deadline.bound(timeout) if deadline is not None else (timeout, False)
    on_timeout = _timed_out(timeout, by_deadline, deadline)
    conn = _Conn(endpoint, time.monotonic() + limit, on_timeout)
    try:
        host = endpoint.server_hostname or endpoint.host
        given = {k.lower(): str(v) for k, v in (headers or {}).items()
                 if k.lower() not in ("host", "connection", "content-length", "accept-encoding")}
        given.setdefault("user-agent", "auditor")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close", "Accept-Encoding: identity"]
        lines += [f"{k}: {v}" for k, v in given.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        while True:
            head = conn.until(b"\r\n\r\n", MAX_HEADER_BYTES, "response header").decode("latin-1")
            status_line, *header_lines = head.split("\r\n")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ReadError(f"not an HTTP answer: {status_line[:80]!r}")
            status = int(parts[1])
            if status != 100:
                break
        fields: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return Response(status, fields, _read_body(conn, fields, method, status))
    finally:
        conn.close()


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if response.status not in (429, 503) or not value.isdigit():
        return None
    return float(min(int(value[:6]), 3600))


def request(endpoint: Endpoint, method: str, target: str, headers: dict[str, str] | None = None,
            body: bytes | None = None, timeout: float = 10.0, deadline: Deadline | None = None) -> Response:
    """:func:`request_once`, retried for a GET answered 429/503 with Retry-After (up to
    MAX_RETRIES times, waiting the longer of Retry-After and a doubling pause, never past the
    deadline). The last answer is returned whatever its status."""
    attempt = 0
    while True:
        response = request_once(endpoint, method, target, headers, body, timeout, deadline)
        wait = _retry_after(response) if method == "GET" else None
        if wait is None or attempt >= MAX_RETRIES:
            return response
        wait = min(max(wait, 0.25 * 2 ** attempt), MAX_RETRY_WAIT)
        left = deadline.left() if deadline is not None else None
        if left is not None and wait >= left:
            return response
        time.sleep(wait)
        attempt += 1


def error_message(response: Response) -> str:
    """`HTTP 500: message` from an error answer (a JSON `message` field when there is one)."""
    message: Any = None
    try:
        doc = json.loads(response.body)
        message = doc.get("message") if isinstance(doc, dict) else None
    except (ValueError, RecursionError):
        pass
    if message is None:
        message = response.body[:300].decode("utf-8", "replace")
    message = one_line(message, 300)
    return f"HTTP {response.status}: {message}" if message else f"HTTP {response.status}"
