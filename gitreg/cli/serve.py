"""``gitreg site --serve``: the built site on loopback, for a local look (issue 15)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gitreg.errors import InvalidInput


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would bury the URL

    def do_GET(self) -> None:
        if self._local():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._local():
            super().do_HEAD()

    def _local(self) -> bool:
        """Whether the request names this server by a loopback name. A web page elsewhere
        could point its own host name at 127.0.0.1 (DNS rebinding) and read a private
        registry's site from the reader's browser: its requests carry its host name, and
        are refused."""
        address = self.server.server_address
        port = address[1] if isinstance(address, tuple) else None
        if self.headers.get("Host", "") in {f"127.0.0.1:{port}", f"localhost:{port}"}:
            return True
        self.send_error(403, "only http://127.0.0.1 or http://localhost may ask")
        return False


def listen(port: int, folder: Path) -> ThreadingHTTPServer:
    """A server for ``folder`` bound to 127.0.0.1 only (never to every interface). Called
    before the site is built, so that a port out of range or in use changes nothing."""
    if not 0 <= port <= 65535:
        raise InvalidInput(f"{{port}}: expected 0 to 65535 (0: any free port), not {port}",
                           params=("port",))
    handler = functools.partial(_Quiet, directory=str(folder))
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise InvalidInput(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}; "
                           "choose another {port}", params=("port",)) from None


def serve(server: ThreadingHTTPServer, *, echo: Callable[[str], None]) -> None:
    """Answer requests until Ctrl-C."""
    echo(f"serving http://127.0.0.1:{server.server_address[1]}/index.html (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        echo("stopped")
    finally:
        server.server_close()
