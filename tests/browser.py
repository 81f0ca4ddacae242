"""Headless Chromium for the site's tests (issue 15): the Debian package, `apt-get install
chromium` (.ci/run installs it). Missing, the tests that need it are skipped locally with the
reason, and fail in CI (``CI=true``), where it must be there.

Every run goes through a recording proxy on loopback (``--proxy-server``, with loopback not
bypassed), so any request a page makes to anywhere but ``file://`` is seen and counted, and
host names resolve to nothing; console messages come from Chromium's own log on stderr.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI must have it")
        pytest.skip(reason)
    return found


@dataclass
class Proxy:
    """A TCP listener that records every connection Chromium opens through it."""

    port: int = 0
    requests: list[str] = field(default_factory=list)


@contextmanager
def recording_proxy() -> Iterator[Proxy]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    proxy = Proxy(server.getsockname()[1])

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    proxy.requests.append(conn.recv(4096).decode(errors="replace")
                                          .split("\r\n")[0])
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    proxy.requests.append("(connection)")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.close()
        thread.join(5)


@dataclass(frozen=True)
class Page:
    dom: str
    console: tuple[str, ...]  # Chromium's CONSOLE log lines (errors, warnings, logs)
    requests: tuple[str, ...]  # what reached the proxy: must stay empty


# Chromium's own background calls (component updates, network time, account checks), which
# --disable-background-networking does not stop in headless mode: not the page's requests.
# Named host by host, so that a CDN on the same domains (fonts.googleapis.com) still counts.
BROWSER_HOSTS = ("update.googleapis.com", "accounts.google.com", "clients2.google.com",
                 "clientservices.googleapis.com", "optimizationguide-pa.googleapis.com",
                 "safebrowsingohttpgateway.googleapis.com", "redirector.gvt1.com")


def _host(request: str) -> str:
    target = request.split(" ")[1] if " " in request else ""
    return re.sub(r"^[a-z]+://", "", target).split("/")[0].split(":")[0]


_CONSOLE = re.compile(r":(?:INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[(:]\d+\)?\] (.*)")


def open_page(url: str, profile: Path, *, screenshot: Path | None = None,
              size: str = "1200,1400") -> Page:
    """Load ``url`` headless and return its DOM after the page's scripts ran (or write a
    screenshot of it)."""
    binary = chromium()
    with recording_proxy() as proxy:
        args = [
            binary, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-default-apps", "--disable-extensions",
            f"--user-data-dir={profile}", f"--window-size={size}",
            f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
            "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files",
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,"
            "Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--disable-domain-reliability", "--no-pings", "--metrics-recording-only",
            "--disable-client-side-phishing-detection", "--disable-breakpad",
        ]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=120,
                              check=False, env={**os.environ, "TZ": os.environ.get("TZ", "UTC")})
    if proc.returncode != 0:
        raise AssertionError(f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    console = tuple(m.group(1) for m in _CONSOLE.finditer(proc.stderr))
    requests = tuple(r for r in proxy.requests if _host(r) not in BROWSER_HOSTS)
    return Page(proc.stdout, console, requests)
