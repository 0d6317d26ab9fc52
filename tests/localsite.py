"""A local HTTP server on 127.0.0.1 (http.server in a thread) that serves fixed routes: the
stand-in for the web in the link tests (this machine has no internet)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Body = bytes | Callable[[BaseHTTPRequestHandler], None]
Route = tuple[int, dict[str, str], Body]
"""(status, headers, body): a body that is a function writes itself; the header
``no-length`` (not sent) leaves Content-Length out."""


@contextlib.contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """Serve ``routes`` (path -> route) until the block ends; yields the base address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            status, headers, body = routes.get(self.path, (404, {}, b"no such route"))
            self.send_response(status)
            for key, value in headers.items():
                if key != "no-length":
                    self.send_header(key, value)
            if "no-length" not in headers and isinstance(body, bytes):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # the client may stop reading: that is what the limits are for
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                body(self) if callable(body) else self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with running(Handler) as url:
        yield url


@contextlib.contextmanager
def running(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on 127.0.0.1 (a free port, one thread per request) until the block
    ends; yields ``http://127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
