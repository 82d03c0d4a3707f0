"""Byte relays between sockets, for tests and benchmarks that need a daemon reached another way:
a loopback TCP port in front of a unix socket, optionally slow, or a unix socket in front of a
TCP port inside another network namespace (run as a script there: `relay.py UNIX_PATH PORT`).
Bytes only: TLS, when there is any, stays between the client and the daemon."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator


def pump(src: socket.socket, dst: socket.socket, delay: float = 0.0) -> None:
    """Copy src to dst until either end closes, holding each chunk back `delay` seconds."""
    try:
        while data := src.recv(65536):
            if delay:
                time.sleep(delay)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def serve(listener: socket.socket, connect: Callable[[], socket.socket], delay_back: float = 0.0) -> None:
    """Accept on `listener` until it is closed; relay each connection to a new `connect()`
    (answers held back `delay_back` seconds a chunk)."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        far = connect()
        threading.Thread(target=pump, args=(conn, far), daemon=True).start()
        threading.Thread(target=pump, args=(far, conn, delay_back), daemon=True).start()


def unix_connector(path: str) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        return s
    return connect


@contextlib.contextmanager
def loopback_to_unix(path: str, delay_back: float = 0.0) -> Iterator[int]:
    """A loopback TCP port (yielded) relaying to the unix socket `path`, in a thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    threading.Thread(target=serve, args=(listener, unix_connector(path), delay_back), daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


if __name__ == "__main__":  # a unix socket relaying to 127.0.0.1:PORT of this network namespace
    listen_path, port = sys.argv[1], int(sys.argv[2])
    server = socket.socket(socket.AF_UNIX)
    server.bind(listen_path)
    server.listen(16)
    print("ready", flush=True)
    serve(server, lambda: socket.create_connection(("127.0.0.1", port)))
