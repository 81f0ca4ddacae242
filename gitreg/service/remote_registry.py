"""A registry read at its git URL without a clone: ``gitreg get NAME --repo URL``.

Only what one version needs crosses the wire. A bare, shallow clone without blobs
(``git clone --bare --depth=1 --filter=blob:none --no-tags``) brings the newest commit of
the default branch and its trees, nothing else; then the blobs are fetched by id, in
batches: ``registry.yaml`` and ``.dvc/config``; then the model's ``stages.yaml``, the
version file and its ``.dvc`` pointer. A server that does not allow filters (a plain
``git daemon``/file repository unless ``uploadpack.allowFilter`` is set) sends every blob
of that one commit instead (git falls back by itself): still no history.

The weights come from the DVC remote named in the committed ``.dvc/config`` into a
temporary cache, are checked against the md5 in the version file, and are written
atomically (weights.py); the temporary folder is removed afterwards.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import config as config_module
from gitreg.core.config import CONFIG_FILE, RegistryConfig
from gitreg.core.layout import VERSIONS_DIR
from gitreg.core.lifecycle import LATEST, Deprecations, deprecations_from_dict, latest
from gitreg.core.names import Version, check_name, parse_version
from gitreg.core.records import StageMap, VersionRecord, stages_from_dict, version_from_dict
from gitreg.errors import CorruptRegistry, InvalidInput, NotARegistry, NotFound, ToolFailed
from gitreg.git.runner import Git, last_lines
from gitreg.repo import yamlio
from gitreg.weights import dvcconfig

if TYPE_CHECKING:
    from gitreg.weights.dvc import Weights
    from gitreg.weights.storage import Progress

DVC_CONFIG = ".dvc/config"
_FILTER_REFUSED = "filtering not recognized by server"


class RemoteRegistry:
    """A registry's newest commit, read from its git URL into a temporary bare repository.

    Use ``RemoteRegistry.open(url)`` as a context manager; the folder goes when it closes.
    """

    def __init__(self, url: str, folder: Path, rev: str | None = None) -> None:
        self.url = url
        self.folder = folder
        repo = folder / "registry.git"
        if rev is None:
            proc = Git(folder).attempt(
                "clone", "--quiet", "--bare", "--depth=1", "--filter=blob:none", "--no-tags",
                "--", _clone_url(url), str(repo),
            )
        else:
            proc = _fetch_rev(folder, repo, url, rev)
        if proc.returncode != 0:
            said = last_lines(proc.stderr.decode("utf-8", "replace")) or "git printed no reason"
            what = "git clone" if rev is None else f"git fetch of revision {rev!r}"
            raise ToolFailed(f"could not read the registry at {url}: {what} failed: {said}")
        # Without filter support every blob of the commit has already arrived.
        self.partial = _FILTER_REFUSED not in proc.stderr.decode("utf-8", "replace")
        self.git = Git(repo)
        head = self.git.resolve("HEAD" if rev is None else "FETCH_HEAD")
        if head is None:
            # A shallow clone of one branch brought none: ask the server which there are.
            listing = self.git.run("ls-remote", "--heads", "--", _clone_url(url), check=False)
            branches = [line.partition("\trefs/heads/")[2] for line in listing.splitlines()]
            if branches:
                # A bare repository whose HEAD names a branch nobody pushed (issue 14).
                shown = ", ".join(branches[:5]) + (", ..." if len(branches) > 5 else "")
                raise NotFound(
                    f"{url} has no default branch (its HEAD names a branch that does not "
                    f"exist; it has {shown}): choose one with {{rev}}", params=("rev",))
            raise NotARegistry(f"{url} holds no commits; it is not a gitreg registry")
        self.commit = head
        blobs = self._read([CONFIG_FILE, DVC_CONFIG])
        config_blob = blobs[CONFIG_FILE]
        if config_blob is None:
            raise NotARegistry(
                f"{url} is not a gitreg registry (no {CONFIG_FILE} on its default branch)"
            )
        source = f"{url}: {CONFIG_FILE}"
        self.config: RegistryConfig = config_module.from_dict(
            yamlio.loads(config_blob, source), source
        )
        self.dvc_config = blobs[DVC_CONFIG] or b""

    @classmethod
    @contextmanager
    def open(cls, url: str, rev: str | None = None) -> Iterator[RemoteRegistry]:
        with tempfile.TemporaryDirectory(prefix="gitreg-get-") as tmp:
            yield cls(url, Path(tmp), rev)

    # -- reads --------------------------------------------------------------------------

    def _read(self, paths: Sequence[str]) -> dict[str, bytes | None]:
        """The blobs at ``paths`` in the commit (None where absent), fetched in one batch."""
        if self.partial:
            listing = self.git.run_bytes("ls-tree", "-z", self.commit, "--", *paths)
            entries = [e.split(b"\t", 1)[0].split(b" ") for e in listing.split(b"\0") if e]
            ids = [oid.decode() for _, kind, oid in entries if kind == b"blob"]
            if ids:
                # What git does for one missing object of a partial clone, for all at once.
                self.git.run(
                    "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags",
                    "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none",
                    "--stdin", "origin", input="".join(f"{i}\n" for i in ids).encode(),
                )
        blobs = self.git.cat_files([f"{self.commit}:{path}" for path in paths])
        return dict(zip(paths, blobs, strict=True))

    def _names(self, folder: str) -> list[str]:
        """Entries of a folder in the commit (trees are local: no fetch)."""
        out = self.git.run_bytes("ls-tree", "-z", "--name-only", f"{self.commit}:{folder}",
                                 check=False)
        return [name.decode("utf-8", "replace") for name in out.split(b"\0") if name]

    def resolve(
        self, name: str | None, *, version: str | None = None, stage: str | None = None
    ) -> tuple[VersionRecord, StageMap]:
        """The version's record (its ``.dvc`` pointer checked) and the model's stage map."""
        name = name or self.config.default_model
        check_name(name)
        if (version is None) == (stage is None):
            raise InvalidInput("give exactly one of {version} or {stage}",
                               params=("version", "stage"))
        if stage is not None:
            self.config.check_stage(stage)
        layout = self.config.layout
        if VERSIONS_DIR not in self._names(layout.model(name)):
            known = ", ".join(self._names(layout.models_dir)[:10]) or "none"
            raise NotFound(f"{self.url} has no model {name!r} (models: {known})")
        stages_rel = layout.stages_file(name)
        if version is None:
            stage_map = self._stage_map(name, self._read([stages_rel])[stages_rel])
            assert stage is not None
            held = stage_map.versions_in(stage)
            if not held:
                raise NotFound(f"{name} has no version in {stage} at {self.url}")
            if len(held) > 1:  # never pick one silently (issue 14)
                raise InvalidInput(
                    f"{stage} holds several versions of {name} at {self.url} "
                    f"({', '.join(held)}); say which with {{version}}", params=("version",))
            record, _ = self._version(name, str(max(Version.parse(v) for v in held)))
            return record, stage_map
        if version == LATEST:  # as in a clone (issue 16): its deprecations say which
            version = self._latest(name)
        # The stage map too (for the metadata), in the same batch.
        record, blobs = self._version(name, parse_version(version), stages_rel)
        return record, self._stage_map(name, blobs[stages_rel])

    def _latest(self, name: str) -> str:
        """The highest SemVer that is neither deprecated nor a prerelease, at the commit."""
        layout = self.config.layout
        rel = layout.deprecated_file(name)
        blob = self._read([rel])[rel]
        retired = (deprecations_from_dict(yamlio.loads(blob, rel), rel) if blob
                   else Deprecations(name))
        names = [n[:-5] for n in self._names(layout.versions(name)) if _is_version(n)]
        found = latest(names, retired)
        if found is None:
            raise NotFound(f"{name} has no version that is neither deprecated nor a "
                           f"prerelease at {self.url}, so no latest")
        return found

    def _stage_map(self, name: str, blob: bytes | None) -> StageMap:
        rel = self.config.layout.stages_file(name)
        return stages_from_dict(yamlio.loads(blob, rel), rel) if blob else StageMap(name)

    def _version(
        self, name: str, version: str, *also: str
    ) -> tuple[VersionRecord, dict[str, bytes | None]]:
        """The version's record, checked against its ``.dvc`` pointer; the blobs of ``also``."""
        version_rel = self.config.layout.version_file(name, version)
        # The pointer's name is in the version file, but the trees are here already: the
        # .dvc file beside the weights comes in the same batch as the version file.
        artifacts = self.config.layout.artifacts(name, version)
        pointers = [f"{artifacts}/{n}" for n in self._names(artifacts) if n.endswith(".dvc")]
        blobs = self._read([version_rel, *pointers, *also])
        blob = blobs[version_rel]
        if blob is None:
            names = self._names(self.config.layout.versions(name))
            versions = sorted(Version.parse(n[:-5]) for n in names if _is_version(n))
            latest = ", ".join(str(v) for v in versions[-5:]) or "none"
            raise NotFound(f"{name} has no version {version} at {self.url} (the newest "
                           f"registered: {latest})")
        record = version_from_dict(yamlio.loads(blob, version_rel), version_rel)
        if (record.name, record.version) != (name, version):
            raise CorruptRegistry.at(
                version_rel, "name/version", f"says {record.name}@{record.version}, "
                f"but the file's place says {name}@{version}"
            )
        pointer_rel = record.artifact.path + ".dvc"
        if pointer_rel not in blobs:
            blobs.update(self._read([pointer_rel]))
        pointer = blobs[pointer_rel]
        if pointer is None:
            raise CorruptRegistry(f"{pointer_rel}: file is missing; the registry is broken")
        _check_pointer(yamlio.loads(pointer, pointer_rel), pointer_rel, record)
        return record, blobs

    # -- weights ------------------------------------------------------------------------

    def _weights(self) -> Weights:
        """weights.Weights on a stand-in work tree: the committed DVC config, a temp cache."""
        from gitreg.weights.dvc import Weights

        root = self.folder / "root"
        (root / ".dvc").mkdir(parents=True, exist_ok=True)
        (root / ".dvc" / "config").write_bytes(self.dvc_config)
        # config.local overrides config, in DVC as in dvcconfig.read.
        (root / ".dvc" / "config.local").write_text(
            f"[cache]\n    dir = {root / '.dvc' / 'cache'}\n"
        )
        try:
            remote = dvcconfig.default_remote(root, dvcconfig.read(root))
        except CorruptRegistry as exc:
            raise CorruptRegistry(f"{self.url}: {exc}") from None
        url = remote.url.removeprefix("file://")
        if remote.local_path is not None and not (os.path.isabs(url) or url.startswith("~")):
            # DVC reads it against the .dvc/ folder of a clone, and there is none here.
            raise InvalidInput(
                f"the registry at {self.url} keeps its weights in DVC remote {remote.name!r} "
                f"at the relative path {remote.url!r}, which only means something inside a "
                "clone; clone the registry and run gitreg get there, or give the remote an "
                "absolute path or URL (dvc remote add -d -f NAME URL)"
            )
        return Weights(root)

    def get(
        self, name: str | None, *, version: str | None = None, stage: str | None = None,
        output: Path | None = None, progress: Progress | None = None, force: bool = False,
    ) -> tuple[VersionRecord, Path]:
        """Write a version's weights to ``output`` (a file, or a folder to write into);
        an existing file or non-empty folder there only with ``force``."""
        record, _ = self.resolve(name, version=version, stage=stage)
        weights = self._weights()
        target = Path(output) if output is not None else Path.cwd()
        return record, weights.deliver(record.artifact, target, force=force, progress=progress)

    def read_weights(
        self, name: str | None, *, version: str | None = None, stage: str | None = None
    ) -> tuple[VersionRecord, StageMap, bytes]:
        """A single-file version's bytes, verified, for deserializing in memory."""
        record, stage_map = self.resolve(name, version=version, stage=stage)
        weights = self._weights()
        weights.fetch(record.artifact, record.artifact.path + ".dvc")
        return record, stage_map, weights.read_file(record.artifact)


def get(
    url: str, name: str | None, *, version: str | None = None, stage: str | None = None,
    output: Path | None = None, progress: Progress | None = None, rev: str | None = None,
    force: bool = False,
) -> tuple[VersionRecord, Path]:
    """``gitreg get NAME --repo URL [--rev REV]``: one version's weights, without a clone;
    ``rev``: a branch, tag or full commit id instead of the default branch."""
    with RemoteRegistry.open(url, rev) as remote:
        return remote.get(name, version=version, stage=stage, output=output, progress=progress,
                          force=force)


def _fetch_rev(folder: Path, repo: Path, url: str, rev: str) -> subprocess.CompletedProcess[bytes]:
    """Just ``rev``'s commit and trees into a new bare repository (as the clone does)."""
    if not rev or rev.startswith("-") or any(c in rev for c in ": \t\n\\^~?*[") or ".." in rev:
        raise InvalidInput(f"{{rev}} {rev!r} is not a branch, tag or commit id",
                           params=("rev",))
    Git(folder).run("init", "--quiet", "--bare", str(repo))
    Git(repo).run("remote", "add", "--", "origin", _clone_url(url))
    return Git(repo).attempt("fetch", "--quiet", "--depth=1", "--filter=blob:none",
                             "--no-tags", "origin", rev)


def _clone_url(url: str) -> str:
    # git ignores --depth and --filter for a plain local path ("use file:// instead").
    if "://" not in url and Path(url).is_dir():
        return Path(url).absolute().as_uri()
    return url


def _is_version(filename: str) -> bool:
    try:
        Version.parse(filename.removesuffix(".yaml"))
    except InvalidInput:
        return False
    return filename.endswith(".yaml")


def _check_pointer(data: Any, source: str, record: VersionRecord) -> None:
    outs = data.get("outs") if isinstance(data, dict) else None
    out = outs[0] if isinstance(outs, list) and len(outs) == 1 else None
    if not isinstance(out, dict):
        raise CorruptRegistry.at(source, "outs", "expected one output")
    if out.get("md5") != record.artifact.md5:
        raise CorruptRegistry.at(
            source, "outs[0].md5", f"{out.get('md5')} differs from {record.artifact.md5} in "
            f"the version file of {record.name} {record.version}; the registry is broken"
        )
