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


def serve_folder(folder: Path, port: int, *, echo: Callable[[str], None]) -> None:
    """Serve ``folder`` on 127.0.0.1 only (never on every interface) until Ctrl-C."""
    handler = functools.partial(_Quiet, directory=str(folder))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise InvalidInput(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}; "
                           "choose another {port}", params=("port",)) from None
    echo(f"serving http://127.0.0.1:{server.server_address[1]}/index.html (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        echo("stopped")
    finally:
        server.server_close()
