"""Links to a registry's forge (GitHub, GitLab): the page of a commit and of a tag.

The site (issue 15) links commit hashes and tags to where a reviewer reads them. The
templates come from ``site.commit_url`` in registry.yaml, or are derived from the origin
URL; only ``http(s)`` templates are accepted, since a cloned registry is untrusted input
and a ``javascript:`` link would run in a reader's browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

_SCP = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>[^/].*)$")
_URL = re.compile(r"^(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[\w.-]+)(?::\d+)?/(?P<path>.+)$")
_PATH = re.compile(r"^[\w.-]+(?:/[\w.-]+)+$")


@dataclass(frozen=True)
class ForgeLinks:
    """URL templates: ``{commit}`` for a commit id, ``{tag}`` for a tag name."""

    commit: str
    tag: str | None = None

    def commit_url(self, commit: str) -> str:
        return self.commit.replace("{commit}", quote(commit, safe=""))

    def tag_url(self, tag: str) -> str | None:
        return None if self.tag is None else self.tag.replace("{tag}", quote(tag, safe=""))


def is_link_template(text: str, placeholder: str) -> bool:
    return text.startswith(("https://", "http://")) and placeholder in text


def from_origin(url: str) -> ForgeLinks | None:
    """The links of a GitHub or GitLab origin (https, ssh or scp-like URL), else None."""
    url = url.strip()
    match = _URL.match(url) or _SCP.match(url)
    if match is None:
        return None
    host, path = match["host"].lower(), match["path"].removesuffix("/").removesuffix(".git")
    if not _PATH.match(path):
        return None
    base = f"https://{host}/{path}"
    if "github" in host:
        return ForgeLinks(f"{base}/commit/{{commit}}", f"{base}/releases/tag/{{tag}}")
    if "gitlab" in host:
        return ForgeLinks(f"{base}/-/commit/{{commit}}", f"{base}/-/tags/{{tag}}")
    return None
