"""Commit and tag signatures, as git judges them (issue 6: signed promotions).

Commits are read in bulk: one ``cat-file --batch`` tells signed from unsigned, one
``git log --format=%G?`` checks the signed ones. Tags have no such format in git 2.39, so
each signed tag is checked with ``git verify-tag --raw`` and its output (ssh-keygen's words,
or GnuPG's status lines) read. A good signature is one git ties to a trusted key: for SSH,
``gpg.ssh.allowedSignersFile``; for GPG, the keyring's trust.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gitreg.git.runner import LOG_FIELD, LOG_RECORD, Git, last_lines


class Status(str, enum.Enum):
    OK = "ok"
    UNSIGNED = "unsigned"
    BAD = "bad"  # a signature that does not match, or by an expired or revoked key
    UNKNOWN_KEY = "unknown key"  # good maths, but no trusted key git knows made it
    MISSING = "missing"  # no such commit or tag; weights neither here nor fetched
    CORRUPT = "corrupt"  # weights that do not match their md5


@dataclass(frozen=True)
class Check:
    """One thing verified: a commit's or a tag's signature, or the weights' md5."""

    what: str  # "registration commit", "stage tag", "weights", ...
    ref: str  # a commit id, a tag name or an md5
    status: Status
    signer: str = ""  # who signed: the SSH principal, or the GPG user id
    key: str = ""  # the signing key's fingerprint
    detail: str = ""  # why it is not ok, in words

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


_SEAL_STATUS = {
    "G": (Status.OK, ""),
    "B": (Status.BAD, "the signature does not match the commit"),
    "U": (Status.UNKNOWN_KEY, "signed by a key git does not trust (not in "
          "gpg.ssh.allowedSignersFile, or a GPG key without enough trust)"),
    "E": (Status.UNKNOWN_KEY, "git cannot check it: the signer's public key is missing"),
    "X": (Status.BAD, "the signature has expired"),
    "Y": (Status.BAD, "signed by an expired key"),
    "R": (Status.BAD, "signed by a revoked key"),
    "N": (Status.UNKNOWN_KEY, "git could not check the signature"),
}
_SSH_GOOD = re.compile(r'Good "git" signature (?:for (?P<who>.+?) )?with \S+ key (?P<key>\S+)')
_GNUPG = re.compile(r"^\[GNUPG:\] (?P<word>[A-Z_]+) ?(?P<rest>.*)$", re.MULTILINE)
_SIGNATURE_BLOCK = re.compile(rb"\n-----BEGIN (?:PGP|SSH) SIGNATURE-----\n|"
                              rb"\n-----BEGIN SIGNED MESSAGE-----\n")
_SSH_BLOCK = b"-----BEGIN SSH SIGNATURE-----"


def commit_signatures(git: Git, commits: Sequence[str]) -> dict[str, Check]:
    """Whether each commit carries a good signature, and whose, as git judges it."""
    result: dict[str, Check] = {}
    signed = []
    for sha, data in zip(commits, git.cat_files(commits), strict=True):
        header = (data or b"").partition(b"\n\n")[0]
        if data is None:
            result[sha] = Check("commit", sha, Status.MISSING, detail="not in this clone")
        elif b"\ngpgsig " not in header and b"\ngpgsig-sha256 " not in header:
            result[sha] = Check("commit", sha, Status.UNSIGNED, detail="the commit is not signed")
        elif _SSH_BLOCK in header and (why := _ssh_unverifiable(git)):
            result[sha] = Check("commit", sha, Status.UNKNOWN_KEY, detail=why)
        else:
            signed.append(sha)
    if signed:
        out = git.run("log", "--no-walk=unsorted", "--stdin",
                      f"--format=%H{LOG_FIELD}%G?{LOG_FIELD}%GS{LOG_FIELD}%GF{LOG_FIELD}%GK"
                      f"{LOG_RECORD}", input="".join(f"{sha}\n" for sha in signed).encode())
        for record in out.split(LOG_RECORD):
            if record.strip():
                sha, code, signer, fingerprint, key = record.strip("\n").split(LOG_FIELD)
                status, detail = _SEAL_STATUS.get(code, (Status.BAD, f"git says {code!r}"))
                result[sha] = Check("commit", sha, status, signer, fingerprint or key, detail)
    return result


def tag_signature(git: Git, name: str) -> Check:
    """Whether tag ``name`` carries a good signature, and whose (``git verify-tag``)."""
    (data,) = git.cat_files([f"refs/tags/{name}"])
    if data is None:
        return Check("tag", name, Status.MISSING, detail="no such tag in this clone")
    if not data.startswith(b"object "):
        return Check("tag", name, Status.UNSIGNED,
                     detail="a lightweight tag: it cannot carry a signature")
    if not _SIGNATURE_BLOCK.search(data):
        return Check("tag", name, Status.UNSIGNED, detail="the tag is not signed")
    if _SSH_BLOCK in data and (why := _ssh_unverifiable(git)):
        return Check("tag", name, Status.UNKNOWN_KEY, detail=why)
    proc = git.attempt("verify-tag", "--raw", f"refs/tags/{name}")
    said = (proc.stderr + proc.stdout).decode("utf-8", "replace")
    ssh = _SSH_GOOD.search(said)
    gnupg = {m["word"]: m["rest"] for m in _GNUPG.finditer(said)}
    signer = (ssh["who"] or "") if ssh else gnupg.get("GOODSIG", "").partition(" ")[2]
    key = ssh["key"] if ssh else gnupg.get("VALIDSIG", "").partition(" ")[0]
    if proc.returncode == 0:
        return Check("tag", name, Status.OK, signer, key)
    if gnupg.keys() & {"ERRSIG", "NO_PUBKEY"}:
        key = key or gnupg.get("NO_PUBKEY") or gnupg.get("ERRSIG", "").partition(" ")[0]
        return Check("tag", name, Status.UNKNOWN_KEY, signer, key, _SEAL_STATUS["E"][1])
    if "No principal matched" in said or gnupg.keys() & {"TRUST_UNDEFINED", "TRUST_NEVER"}:
        return Check("tag", name, Status.UNKNOWN_KEY, signer, key, _SEAL_STATUS["U"][1])
    for word, code in (("EXPSIG", "X"), ("EXPKEYSIG", "Y"), ("REVKEYSIG", "R")):
        if word in gnupg:
            return Check("tag", name, Status.BAD, signer, key, _SEAL_STATUS[code][1])
    reason = last_lines(said) or "git printed no reason"
    return Check("tag", name, Status.BAD, signer, key,
                 f"the signature does not match the tag ({reason})")


def _ssh_unverifiable(git: Git) -> str:
    """Why git cannot check SSH signatures here, or "" if it can.

    Without an allowed-signers file git 2.39 reports an SSH-signed commit as unsigned
    (``%G?`` is N) and aborts on ``%GT``: say what is missing instead.
    """
    path = git.run("config", "--type=path", "--get", "gpg.ssh.allowedSignersFile",
                   check=False).strip()
    if path and (git.root / path).is_file():
        return ""
    return ("git cannot check SSH signatures: gpg.ssh.allowedSignersFile "
            + (f"names no file ({path})" if path else "is not set")
            + "; point it at a trusted allowed-signers file (git config "
            "gpg.ssh.allowedSignersFile PATH)")
