"""The registry service: every operation the CLI and the Python API offer.

It returns values and events and never prints. Writes go through a ``Transaction``, so a
failure part-way leaves no commit, no tag and no half-written file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core import config as config_module
from gitreg.core.config import CONFIG_FILE, RegistryConfig
from gitreg.core.events import (
    Action,
    Event,
    commit_message,
    proposal_branch,
    tag_message,
    version_tag,
)
from gitreg.core.layout import DEPRECATED_FILE, STAGES_FILE, VERSIONS_DIR
from gitreg.core.lifecycle import LATEST, Deprecations, deprecations_from_dict, latest
from gitreg.core.names import (
    FIRST_VERSION,
    ModelRef,
    Version,
    check_name,
    check_ref,
    parse_version,
)
from gitreg.core.newversion import Bump as Bump
from gitreg.core.newversion import NewVersion as NewVersion
from gitreg.core.newversion import draft
from gitreg.core.query import Query, matches, ordered, unfiltered
from gitreg.core.records import (
    StageMap,
    VersionRecord,
    VersionSummary,
    iso_timestamp,
    named,
    stages_to_dict,
    summary_of,
    version_to_dict,
)
from gitreg.errors import (
    Conflict,
    CorruptRegistry,
    GitregError,
    InvalidInput,
    NotARegistry,
    NotFound,
    PolicyViolation,
)
from gitreg.git.runner import Authorship, Git, authored_env, identity_env
from gitreg.repo import parsers, summary, yamlio
from gitreg.repo.cache import CACHE_DIR, ParsedFiles, Store
from gitreg.repo.catalog import Catalog, Payload, Signature, signature, stems
from gitreg.repo.history import History, rollback_target
from gitreg.repo.journal import pending
from gitreg.repo.paths import check_real, check_tree, output_refused, written_under

if TYPE_CHECKING:
    from gitreg.repo.publish import Publisher
    from gitreg.repo.transaction import Transaction
    from gitreg.weights.storage import Progress

# Writes import what they need (transaction, sharing, policy, weights, DVC's config, the
# signing gate) when they run: the read commands start without them (issues 5, 19).


SITE_IGNORE = "/site/"


@dataclass(frozen=True)
class Registered:
    record: VersionRecord
    events: tuple[Event, ...]


def default_storage() -> str:
    """The local DVC remote ``init`` sets up when given none: one per user, on this machine.

    Content-addressed, so every registry of the user can share it; written with ``~`` so the
    committed config means the same for every clone on any machine (DVC expands it).
    """
    explicit = os.environ.get("GITREG_STORAGE")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    data_home = os.environ.get("XDG_DATA_HOME")
    if data_home:
        return os.path.join(os.path.abspath(data_home), "gitreg", "storage")
    return "~/.local/share/gitreg/storage"


class Registry:
    """A registry: a git repository with ``registry.yaml`` at its top."""

    def __init__(self, root: Path) -> None:
        root = Path(root).absolute()
        if not (root / CONFIG_FILE).is_file() or not (root / ".git").exists():
            raise NotARegistry(
                f"{root} is not a gitreg registry (no {CONFIG_FILE} and .git there); "
                "run `gitreg init` to make it one"
            )
        self.root = root
        # A write killed part-way is undone (or kept, if it reached origin) before anything
        # is read, for the API as for the CLI; ``recovered`` says what was done (issue 11).
        self.recovered: str | None = _recover(root)
        self.git = Git(root)
        dot_git = root / ".git"
        # What reads parse, cached by content and commit ids (cache.py); a linked worktree's
        # .git is a file naming the real git folder.
        self.cache = Store((dot_git if dot_git.is_dir() else _git_dir(self.git)) / CACHE_DIR)
        self.parsed = ParsedFiles(self.cache)
        self.config: RegistryConfig = self._read_config()
        self.history = History(self.git, self.config.layout, self.cache)
        # Told what an operation did besides its result (a clashing tag replaced by
        # origin's): the CLI prints it on stderr, the API warns.
        self.note: Callable[[str], None] = lambda _message: None
        self._proposing = False
        self._fetched_at: str | None = None  # HEAD after start_shared caught up (publish)

    def _read_config(self) -> RegistryConfig:
        (config,) = self.parsed.read(
            parsers.CONFIG, "", [(str(self.root / CONFIG_FILE), CONFIG_FILE)], whole=True)
        assert isinstance(config, RegistryConfig)
        return config

    def reload_config(self) -> None:
        """Read ``registry.yaml`` again (after a fetch brought a new one)."""
        self.config = self._read_config()

    @classmethod
    def find(cls, start: Path | None = None) -> Registry:
        """The registry that ``start`` (default: the current directory) is in."""
        here = Path(start or Path.cwd()).absolute()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file() and (folder / ".git").exists():
                return cls(folder)
        raise NotARegistry(
            f"not inside a gitreg registry (no {CONFIG_FILE} in {here} or its parents); "
            "cd into one, or run `gitreg init` to create one here"
        )

    @classmethod
    def init(
        cls, path: Path, *, remote: str | None = None,
        remote_options: Mapping[str, str] | None = None,
    ) -> Registry:
        """Make ``path`` a registry: git and DVC set up as needed, one commit.

        ``remote_options`` are DVC options of the remote (``endpointurl``, ``keyfile``, ...);
        credentials and per-machine ones go to the git-ignored ``.dvc/config.local``.
        """
        root = Path(path).absolute()
        root.mkdir(parents=True, exist_ok=True)
        if (root / CONFIG_FILE).exists():
            raise Conflict(f"{root} is already a gitreg registry ({CONFIG_FILE} exists)")
        from gitreg.repo.transaction import Transaction
        from gitreg.weights import dvcconfig

        git = Git(root)
        if not (root / ".git").exists():
            git.run("init", "--quiet")
        files = [CONFIG_FILE, ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"]
        with Transaction(git, _git_dir(git)) as tx:
            tx.require_clean([CONFIG_FILE])
            # `gitreg site` writes to site/ by default (issue 15): never committed by mistake.
            ignore = root / ".gitignore"
            before = ignore.read_text() if ignore.is_file() else ""
            if SITE_IGNORE not in before.splitlines():
                tx.write(".gitignore", before + ("" if before.endswith("\n") or not before
                                                 else "\n") + SITE_IGNORE + "\n")
            if not (root / ".dvc").is_dir():
                tx.created(root / ".dvc")
                tx.created(root / ".dvcignore")
                from gitreg.weights.dvc import init_dvc

                init_dvc(root)
            has_remote = bool(dvcconfig.read(root).get("core", {}).get("remote"))
            if remote is not None or not has_remote:
                previous = root / ".dvc" / "config"
                tx.write(".dvc/config", previous.read_text() if previous.exists() else "")
                from gitreg.weights.dvc import set_remote

                set_remote(root, remote if remote is not None else default_storage(),
                           remote_options)
            tx.write(CONFIG_FILE, yamlio.dumps(config_module.default_config_dict()))
            tx.commit("Initialize gitreg registry\n", files, identity_env(git))
        return cls(root)

    # -- paths --------------------------------------------------------------------------

    def _model_path(self, name: str) -> str:
        return self.config.layout.model(name)

    def _version_path(self, name: str, version: str) -> str:
        return self.config.layout.version_file(name, version)

    def stages_path(self, name: str) -> str:
        return self.config.layout.stages_file(name)

    # -- reads --------------------------------------------------------------------------

    def models(self) -> list[str]:
        base = self.root / self.config.models_dir
        if not base.is_dir():
            return []
        return sorted(
            entry.name for entry in base.iterdir()
            if (entry / VERSIONS_DIR).is_dir() and _valid_name(entry.name)
        )

    def require_model(self, name: str) -> str:
        check_name(name)
        versions = self.config.layout.versions(name)
        check_real(self.root, versions)  # no links (issue 6)
        if not (self.root / versions).is_dir():
            known = ", ".join(self.models()[:10]) or "none yet"
            raise NotFound(f"unknown model {name!r} (models: {known}); see `gitreg list`")
        return name

    def versions(self, name: str) -> list[VersionRecord]:
        """Every version of a model, oldest SemVer first."""
        self.require_model(name)
        folder = self.root / self.config.layout.versions(name)
        parsed = self._read_versions(name, parsers.yaml_stems(folder), whole=True)
        return [record for record, _ in sorted(parsed, key=lambda pair: pair[1])]

    def record(self, name: str, version: str) -> VersionRecord:
        self.require_model(name)
        version = self.resolve_version(name, version)
        if not (self.root / self._version_path(name, version)).is_file():
            known = ", ".join(r.version for r in self.versions(name)[-5:])
            raise NotFound(
                f"{name} has no version {version} (the newest registered: {known}); see "
                f"`gitreg show {name}`"
            )
        return self._read_version(name, version)

    def resolve_version(self, name: str, version: str) -> str:
        """``version`` normalised; ``latest`` is the highest SemVer that is neither
        deprecated nor a prerelease (issue 16)."""
        if version != LATEST:
            return parse_version(version)
        folder = self.root / self.config.layout.versions(name)
        found = latest(parsers.yaml_stems(folder), self.deprecations(name))
        if found is None:
            raise NotFound(f"{name} has no version that is neither deprecated nor a "
                           "prerelease, so no latest; see `gitreg list --all`")
        return found

    def deprecations(self, name: str) -> Deprecations:
        """Which versions of ``name`` are deprecated, and why (``deprecated.yaml``)."""
        rel = self.config.layout.deprecated_file(name)
        path = self.root / rel
        if not path.exists():
            return Deprecations(name)
        check_real(self.root, rel)
        found = deprecations_from_dict(yamlio.load_file(path, rel), rel)
        if found.name != name:
            raise CorruptRegistry.at(rel, "model", f"says {found.name!r}, expected {name!r}")
        return found

    def deprecated(self, name: str, version: str) -> str | None:
        """Why no stage may take ``name`` ``version`` (issue 16), as the sentence every
        write that would put it in one refuses with; None if it is not deprecated."""
        why = self.deprecations(name).reason(version)
        if why is None:
            return None
        return (f"{name} {version} is deprecated ({why}); restore it first (gitreg restore "
                f"{name}@{version})")

    def _read_version(self, name: str, version: str) -> VersionRecord:
        ((record, _),) = self._read_versions(name, [version], whole=False)
        return record

    def _read_versions(
        self, name: str, versions: list[str], *, whole: bool
    ) -> list[tuple[VersionRecord, parsers.Order]]:
        """Version files with their SemVer order, parsed once per content (cache.py);
        ``whole``: all of the model's."""
        rels = self.config.layout.version_files(name, versions)
        records = []
        root = f"{self.root}{os.sep}"
        parsed = self.parsed.read(parsers.VERSIONS, self._model_path(name),
                                  [(root + rel, rel) for rel in rels], whole=whole)
        for (record, order), rel, version in zip(parsed, rels, versions, strict=True):
            check_place(record, name, version, rel)
            records.append((record, order))
        return records

    def stage_map(self, name: str, *, cached: bool = True) -> StageMap:
        """What each stage of ``name`` holds (``stages.yaml``); ``cached=False``: read and
        parsed without the per-file cache, for a caller that reads each model's once."""
        self.require_model(name)
        if not cached:
            return self._fresh_stage_map(name)
        rel = self.stages_path(name)
        path = self.root / rel
        if not path.exists():
            return StageMap(name)
        (stage_map,) = self.parsed.read(parsers.STAGES, self._model_path(name),
                                        [(str(path), rel)], whole=True)
        return named(stage_map, name, rel)

    def _fresh_stage_map(self, name: str) -> StageMap:
        """``stage_map`` of a model ``require_model`` let through, read and parsed as it
        reads it but not through the per-file cache (``joined`` keeps its own: a first list
        at 100,000 versions wrote 1,000 cache files of one stage map each)."""
        rel = self.stages_path(name)
        path = f"{self.root}{os.sep}{rel}"
        if not os.path.exists(path):
            return StageMap(name)
        return named(parsers.STAGES.parse(yamlio.read_file(path, rel), rel), name, rel)

    def which(
        self, name: str, stage: str, *, at: str | datetime | None = None, rev: str | None = None
    ) -> tuple[str, ...]:
        """The versions in ``stage`` now, at a past moment, or at a git revision."""
        self.require_model(name)
        self.config.check_stage(stage)
        if at is not None and rev is not None:
            raise InvalidInput("give either {at} or {rev}, not both", params=("at", "rev"))
        if at is not None:
            commit = self.history.commit_before(_moment(at))
            if commit is None:
                return ()
            return self.history.stage_map_at(name, commit).versions_in(stage)
        if rev is not None:
            commit = self.git.resolve(rev)
            if commit is None:
                raise NotFound(f"unknown git revision {rev!r}")
            return self.history.stage_map_at(name, commit).versions_in(stage)
        return self.stage_map(name).versions_in(stage)

    def version_in(self, name: str, stage: str) -> str:
        """The version ``stage`` holds (the highest, if the stage is not exclusive)."""
        held = self.which(name, stage)
        if not held:
            raise NotFound(f"{name} has no version in {stage}; promote one first")
        return str(max(Version.parse(v) for v in held))

    def catalog(
        self,
        name: str | None = None,
        *,
        stage: str | None = None,
        min_metrics: Mapping[str, float] | None = None,
        query: Query | None = None,
    ) -> list[tuple[VersionRecord, tuple[str, ...]]]:
        """Versions with the stages they are in, filtered by model and ``query`` (stage,
        metric bounds, labels, ...; deprecated versions only if it says so), in SemVer order
        or by its ``sort`` metric, best first."""
        query = query or Query(stage=stage, min_metrics=min_metrics or {})
        names = [self.require_model(name)] if name else self.models()
        if query.stage is not None:
            self.config.check_stage(query.stage)
        found: list[tuple[VersionRecord, tuple[str, ...]]] = []
        plain = unfiltered(query)  # only deprecation decides: no call per version
        for model in names:
            held = self.stage_map(model).by_version()
            retired = self.deprecations(model).versions
            if plain:
                found += [(record, held.get(record.version, ())) for record in self.versions(model)
                          if query.include_deprecated or record.version not in retired]
                continue
            for record in self.versions(model):
                stages = held.get(record.version, ())
                if matches(query, record, stages, record.version in retired):
                    found.append((record, stages))
        if query.sort is None:
            return found if query.limit is None else found[:query.limit]
        stages_of = {(r.name, r.version): stages for r, stages in found}
        return [(r, stages_of[r.name, r.version])
                for r in ordered(query, [r for r, _ in found])]

    def joined(
        self,
        kind: str,
        make: Callable[[list[VersionSummary], dict[str, tuple[str, ...]], Deprecations],
                       Payload],
        valid: Callable[[Payload], bool],
        join: Callable[[list[Payload]], str],
        *,
        variant: str,
        name: str | None = None,
    ) -> str:
        """What ``join`` makes of what ``make`` makes of each model (or ``name`` alone),
        in model order: of its versions' summaries in SemVer order, the stages each is in
        and its deprecations.

        Kept in one cache file per ``kind`` (catalog.py): a model whose files did not
        change since is not read again (a warm `gitreg list` at 100,000 versions reads no
        YAML). ``make`` must be a pure function of what it is given, ``kind`` must change
        when it does, and ``valid`` says whether a kept payload has ``make``'s shape. The
        joined text is kept whole as well: when every model's files have the signatures
        they had (and the models are the same), it is read back as it was, without the
        payloads (a warm list: one ``stat`` per file and one file read, issue 19).
        ``join`` must be a pure function of the payloads, ``variant`` change when it does."""
        catalog = self._catalog(kind, valid)
        signed, failed = self._signed(name)
        key = None
        if failed is None:
            key = catalog.whole_key(variant, [(model, sign) for model, (sign, _, _) in signed])
            kept = catalog.whole(key)
            if kept is not None:
                return kept
        text = join(self._payloads(catalog, signed, failed, make))
        if key is not None:
            catalog.keep_whole(key, text)
        catalog.save(whole=name is None, models=[model for model, _ in signed])
        return text

    def _catalog(self, kind: str, valid: Callable[[Payload], bool]) -> Catalog:
        kind = "\0".join((kind, self.config.layout.models_dir, parsers.VERSIONS.kind))
        return Catalog(self.cache.folder, kind, valid)

    def _signed(self, name: str | None) -> tuple[list[tuple[str, Signature]], GitregError | None]:
        """The models (or ``name`` alone) with their files' signatures (catalog.py), up to
        the first that may not be read (a link), and why not: ``_payloads`` raises that in
        its turn, after the models before it, as a read of each in turn would."""
        names = [self.require_model(name)] if name else self.models()
        layout = self.config.layout
        root = f"{self.root}{os.sep}"
        signed: list[tuple[str, Signature]] = []
        for model in names:
            if not name:
                try:
                    self.require_model(model)  # as versions() does: no links
                except GitregError as exc:
                    return signed, exc
            signed.append((model, signature(root + layout.model(model),
                                            (STAGES_FILE, DEPRECATED_FILE))))
        return signed, None

    def _payloads(
        self,
        catalog: Catalog,
        signed: list[tuple[str, Signature]],
        failed: GitregError | None,
        make: Callable[[list[VersionSummary], dict[str, tuple[str, ...]], Deprecations],
                       Payload],
    ) -> list[Payload]:
        made: list[Payload] = []
        for model, (sign, files, stats) in signed:
            payload = catalog.get(model, sign)
            if payload is None:  # read in catalog()'s order: the same file fails first
                held = self._fresh_stage_map(model).by_version()
                retired = self.deprecations(model)
                payload = make(self._fresh_summaries(model, stems(files)), held, retired)
                catalog.put(model, sign, stats, payload)
            made.append(payload)
        if failed is not None:
            raise failed
        return made

    def _fresh_summaries(self, name: str, versions: list[str]) -> list[VersionSummary]:
        """``versions``' summaries in SemVer order, read as ``versions()`` reads them but
        not through the per-model cache (``joined`` keeps its own): a file in gitreg's
        own form straight from its text (summary.py), any other parsed in full."""
        rels = self.config.layout.version_files(name, versions)
        root = f"{self.root}{os.sep}"
        parsed = []
        for rel, version in zip(rels, versions, strict=True):
            data = yamlio.read_file(root + rel, rel)
            found = summary.read(data, name, version)
            if found is None:
                record, order = parsers.VERSIONS.parse(data, rel)
                check_place(record, name, version, rel)
                found = summary_of(record)
            else:
                order = Version.parse(version).precedence()
            parsed.append((order, found))
        parsed.sort(key=lambda pair: pair[0])
        return [found for _, found in parsed]

    def history_events(self, name: str | None = None, stage: str | None = None) -> list[Event]:
        if name is not None:
            self.require_model(name)
        if stage is not None:
            self.config.check_stage(stage)
        return self.history.events(name, stage)

    # -- register -----------------------------------------------------------------------

    def register(
        self,
        name: str,
        source: Path,
        *,
        version: str | None = None,
        bump: Bump | None = None,
        info: NewVersion | None = None,
        stage: str | None = None,
        push: bool = False,
        progress: Progress | None = None,
        sign: bool = False,
        authored: Authorship | None = None,
        propose: bool = False,
    ) -> Registered:
        """Add a version: version file, weights in DVC (pushed), one commit, tag ``name@vX``.

        With ``push``, the commit and tags go to ``origin`` atomically; if someone pushed
        first, the registration is replayed on their tip (a ``--bump`` is recomputed).
        ``sign``: commits and tags signed with git's signing set-up (repo/signing.py).
        ``authored``: the author and date of the commit and of ``registered_at`` (imports).
        ``propose``: pushed to a new branch for review instead, untagged (``proposal``
        names it); the checkout does not change.
        """
        from gitreg.core.release import check_release_model

        check_release_model(check_name(name))
        self.start_shared(push=push, propose=propose)
        info = info or NewVersion()
        source = Path(source)
        if not source.exists():
            raise InvalidInput(f"weights path {source} does not exist")
        resolved, root = source.resolve(), self.root.resolve()
        if root.is_relative_to(resolved) or any(
                resolved.is_relative_to(root / inner) for inner in (".git", ".dvc")):
            # `gitreg register NAME ""` reaches here as "." (typer reads "" as a path).
            raise InvalidInput(f"weights path {source} holds the registry itself: give the "
                               "model's file or folder")
        if version is not None and bump is not None:
            raise InvalidInput("give either {version} or {bump}, not both",
                               params=("version", "bump"))
        if stage is not None:
            self.config.check_stage(stage)
            self.gate_signing(stage, sign, name)
        # Validate the whole record before anything is written: a write must never leave
        # `check` failing, nor fail at the tag after the commit (issue 13).
        planned = draft(name, self._next_version(name, version, bump), info)
        check_ref(f"refs/tags/{version_tag(name, planned.version)}")
        self._check_depends_on(planned)
        records: list[VersionRecord] = []

        def change(tx: Transaction) -> list[Event]:
            record, events = self._register_in(
                tx, name, source, self._next_version(name, version, bump), info, progress, sign,
                authored,
            )
            records[:] = [record]
            if stage is not None:
                events.append(self._apply(tx, *self.plan_promotion(record, stage, None), sign,
                                          authored))
            return events

        events = self.publish(change, push=push, propose=propose)
        return Registered(records[0], tuple(events))

    def _check_depends_on(self, record: VersionRecord) -> None:
        for entry in record.lineage.depends_on:
            ref = ModelRef.parse(entry)
            assert ref.version is not None  # draft() made sure
            target = self._version_path(ref.name, ref.version)
            if not (self.root / target).is_file():
                raise InvalidInput(
                    f"lineage.depends_on: {entry} is not registered in this registry (no "
                    f"{target}); register it first (gitreg register {ref.name} PATH "
                    f"--version {ref.version})")

    def _register_in(
        self, tx: Transaction, name: str, source: Path, version: str, info: NewVersion,
        progress: Progress | None = None, sign: bool = False,
        authored: Authorship | None = None,
    ) -> tuple[VersionRecord, list[Event]]:
        from gitreg.weights.dvc import Weights
        from gitreg.weights.serialize import detect_format

        version_rel = self._version_path(name, version)
        if (self.root / version_rel).exists():
            raise Conflict(
                f"{name} {version} is already registered; choose another {{version}} or "
                "{bump}", params=("version", "bump"))
        tag = version_tag(name, version)
        if self.git.tags(tag):
            raise Conflict(f"tag {tag} already exists although {version_rel} does not; "
                           "choose another version")
        planned = draft(name, version, info)
        if authored is not None:
            planned = replace(planned, registered_at=iso_timestamp(authored.date, "date"))
        env = authored_env(self.git, authored)
        artifacts = self.config.layout.artifacts(name, version)
        stages_rel = self.stages_path(name)
        tx.require_clean([version_rel, artifacts, stages_rel])
        check_tree(self.root, artifacts)  # a link planted there would write outside
        weights = Weights(self.root)
        tx.created(self.root / artifacts)
        stored, _ = weights.store(source, artifacts)
        record = replace(
            planned,
            registered_by=_identity(self.git, env),
            artifact=replace(stored.artifact, format=info.format or detect_format(source)),
        )
        tx.write(stored.pointer, stored.pointer_text)
        tx.write(stored.gitignore, stored.gitignore_text)
        # Weights reach the remote before the commit that names them exists.
        weights.push(stored.artifact, stored.pointer, progress)
        tx.write(version_rel, yamlio.dumps(version_to_dict(record)))
        paths = [version_rel, stored.pointer, stored.gitignore]
        if not (self.root / stages_rel).exists():
            tx.write(stages_rel, self.stages_text(StageMap(name)))
            paths.append(stages_rel)
        event = Event(name, Action.REGISTER, version)
        tagged = tag if self.tags_here() else None
        commit = tx.commit(commit_message(event), paths, env, sign,
                           tags=[(tagged, tag_message(event))] if tagged else [])
        return record, [replace(event, commit=commit, tag=tagged, author=record.registered_by)]

    def _next_version(self, name: str, version: str | None, bump: Bump | None) -> str:
        if version is not None:
            return parse_version(version)
        folder = self.root / self.config.layout.versions(name)
        existing = [Version.parse(p.stem) for p in folder.glob("*.yaml")] if folder.is_dir() else []
        if not existing:
            return str(FIRST_VERSION)
        return str(max(existing).bump((bump or Bump.PATCH).value))

    # -- stage changes: plan from the current state, then apply -------------------------

    def promote(
        self,
        name: str,
        version: str,
        stage: str,
        *,
        force: bool = False,
        reason: str | None = None,
        push: bool = False,
        sign: bool = False,
        authored: Authorship | None = None,
        propose: bool = False,
    ) -> Event:
        """Put ``version`` in ``stage`` (replacing an exclusive stage's holder); tag it."""
        forced = self.override(force, reason)  # the arguments alone: before any fetch
        self.start_shared(push=push, propose=propose)
        record = self.record(name, version)
        self.config.check_stage(stage)
        self.gate_signing(stage, sign, name)
        return self._stage_change(
            name, stage, lambda: self.plan_promotion(record, stage, forced), push=push,
            sign=sign, authored=authored, propose=propose,
        )

    @staticmethod
    def override(force: bool, reason: str | None) -> str | None:
        """The reason recorded for an override of a policy (``force``), if any."""
        if force and not reason:
            raise InvalidInput("{force} needs {reason}, which is recorded in the commit",
                               params=("force", "reason"))
        from gitreg.core.policy import one_line

        if force and reason is not None and not one_line(reason):
            # It goes into a one-line trailer, where a line break would cut it (issue 12).
            raise InvalidInput("{reason} must be one line of text, without line breaks or "
                               "other control characters; say the rest in the pull request",
                               params=("reason",))
        return reason if force else None

    def plan_promotion(
        self, record: VersionRecord, stage: str, forced: str | None
    ) -> tuple[StageMap, Event]:
        name, version = record.name, record.version
        refused = self.deprecated(name, version)
        if refused is not None:
            raise PolicyViolation(refused)
        stage_map = self.stage_map(name)
        held = stage_map.versions_in(stage)
        if version in held:
            raise Conflict(f"{name} {version} is already in {stage}; nothing to do")
        exclusive = self.config.is_exclusive(stage)
        previous = held[0] if exclusive and held else None
        problems = self.policy_problems(record, stage, stage_map, previous)
        rules = self.config.policy(stage, name)
        if problems and rules is not None and (forced is None or not rules.allow_force):
            how = ("override with {force} {reason}" if rules.allow_force else
                   f"{rules.label}.allow_force is false, so only a version that passes reaches "
                   f"{stage}")
            raise PolicyViolation(f"{problems[0]} ({rules.label} in {CONFIG_FILE}); {how}",
                                  params=("force", "reason"))
        new = (version,) if exclusive else (*held, version)
        event = Event(name, Action.PROMOTE, version, stage, previous,
                      reason=forced, policy=rules.label if rules is not None else None,
                      overridden=bool(problems) and forced is not None)
        return stage_map.with_stage(stage, new), event

    def policy_problems(
        self, record: VersionRecord, stage: str, stage_map: StageMap, previous: str | None
    ) -> list[str]:
        """What the policy of ``stage`` for ``record``'s model refuses about its promotion
        there, replacing ``previous``."""
        rules = self.config.policy(stage, record.name)
        if rules is None:
            return []
        replaced = self.record(record.name, previous) if previous else None
        been: frozenset[str] = frozenset()
        if rules.from_stage is not None:  # as check counts it: since its registration
            from gitreg.repo.history import Been

            been = Been(self.history, record.name,
                        self.history.events(record.name))(record.version, rules.from_stage)
        from gitreg.core import policy

        return policy.violations(self.config, stage, record, replaced, stage_map, been)

    def demote(
        self, name: str, stage: str, *, version: str | None = None, push: bool = False,
        sign: bool = False, authored: Authorship | None = None, propose: bool = False,
    ) -> Event:
        """Empty ``stage`` (or take ``version`` out of a non-exclusive one)."""
        self.start_shared(push=push, propose=propose)
        self.require_model(name)
        self.config.check_stage(stage)
        self.gate_signing(stage, sign, name)
        if version is not None:
            version = parse_version(version)

        def plan() -> tuple[StageMap, Event]:
            stage_map = self.stage_map(name)
            held = stage_map.versions_in(stage)
            if not held:
                raise NotFound(f"{name} has no version in {stage}; nothing to demote")
            if version is not None and version not in held:
                raise NotFound(f"{name} {version} is not in {stage} (it holds {', '.join(held)})")
            if version is None and len(held) > 1:
                raise InvalidInput(
                    f"{stage} holds several versions of {name} ({', '.join(held)}); "
                    "say which with {version}", params=("version",))
            removed = version or held[0]
            new = tuple(v for v in held if v != removed)
            event = Event(name, Action.DEMOTE, None, stage, removed)
            return stage_map.with_stage(stage, new), event

        return self._stage_change(name, stage, plan, push=push, sign=sign, authored=authored,
                                  propose=propose)

    def rollback(
        self, name: str, stage: str, *, to: str | None = None, push: bool = False,
        sign: bool = False, propose: bool = False,
    ) -> Event:
        """Return ``stage`` to the version it held before the current one, or to ``to``."""
        self.start_shared(push=push, propose=propose)
        self.require_model(name)
        self.config.check_stage(stage)
        self.gate_signing(stage, sign, name)
        if to is not None:
            to = self.record(name, to).version

        def plan() -> tuple[StageMap, Event]:
            stage_map = self.stage_map(name)
            held = stage_map.versions_in(stage)
            current = held[-1] if held else None
            events = self.history.events(name, stage)
            target = to or rollback_target(events, stage, current)
            if to is not None and to != current and not any(e.version == to for e in events):
                # A rollback returns a stage to what it held, so no policy gates it: to a
                # version it never held, that would open the gate (issue 12).
                raise PolicyViolation(
                    f"{name} {to} has never been in {stage}, so there is nothing to roll back "
                    f"to; put it there with `gitreg promote {name} {to} {stage}`, which "
                    "applies the stage's policy")
            if target == current:
                raise Conflict(f"{name} {target} is already in {stage}; nothing to roll back")
            self.record(name, target)  # it must still be registered
            refused = self.deprecated(name, target)
            if refused is not None:
                # As for a promotion (issue 16): a stage never holds a deprecated version,
                # or `check` fails the very commit a rollback makes.
                raise PolicyViolation(f"{refused}, or roll {stage} back to another version "
                                      "with --to VERSION")
            if self.config.is_exclusive(stage):
                new: tuple[str, ...] = (target,)
            elif current is None:
                new = (target,)
            else:  # the target may be held already (a stage of several): then once
                new = tuple(dict.fromkeys(target if v == current else v for v in held))
            event = Event(name, Action.ROLLBACK, target, stage, current)
            return stage_map.with_stage(stage, new), event

        return self._stage_change(name, stage, plan, push=push, sign=sign, propose=propose)

    def _stage_change(
        self, name: str, stage: str, plan: Callable[[], tuple[StageMap, Event]], *, push: bool,
        sign: bool = False, authored: Authorship | None = None, propose: bool = False,
    ) -> Event:
        """Apply a planned stage change; with ``push``, replay it if the remote moved on,
        unless that model's stage itself changed there (a conflict)."""
        (event,) = self.publish(
            lambda tx: [self._apply(tx, *plan(), sign, authored)],
            push=push,
            guard=lambda: self.stage_map(name).versions_in(stage),
            propose=propose,
        )
        return event

    def _apply(self, tx: Transaction, stage_map: StageMap, event: Event,
               sign: bool = False, authored: Authorship | None = None) -> Event:
        assert event.stage is not None
        from gitreg.repo import signing

        gated = self.requires_signed(event.stage, stage_map.name)
        if gated:
            signing.require_sign(event.stage, sign)  # the policy may have come with a catch-up
        if gated and event.version is not None:
            # What the stage will hold must have been registered under a good signature too.
            signing.refuse(event.stage, signing.signed_problems(
                self.git, self.history.events(stage_map.name), stage_map.name, event.version,
                None))
        rel = self.stages_path(stage_map.name)
        tx.require_clean([rel])
        tx.write(rel, self.stages_text(stage_map))
        env = authored_env(self.git, authored)
        tag = None
        if self.tags_here():
            tag = self.history.next_tag(stage_map.name, event.stage)
        commit = tx.commit(commit_message(event), [rel], env, sign,
                           tags=[(tag, tag_message(event))] if tag else [])
        if gated:
            # A signature nobody can verify (a key not in the allowed signers) is refused,
            # and the transaction undoes the commit and the tag.
            signing.refuse(event.stage, signing.new_change_problems(self.git, commit, tag or ""))
        return replace(event, commit=commit, tag=tag, author=_identity(self.git, env))

    def tags_here(self) -> bool:
        """Whether a write here gets its tags now: on the registry's main branch (git/sync.py
        says which), not elsewhere, nor in a proposal. The tags belong to the commits that
        reach main, and ``ci tag`` makes them there; a tag made on a branch that is then
        squashed or rebased would name a commit main never gets (issue 14)."""
        if self._proposing:
            return False
        from gitreg.git.sync import Sync

        sync = Sync(self.git)
        main = sync.main_branch()
        return main is None or self.git.run(
            "symbolic-ref", "-q", "--short", "HEAD", check=False).strip() in (main, "")

    def requires_signed(self, stage: str, name: str) -> bool:
        rules = self.config.policy(stage, name)
        return rules is not None and rules.require_signed

    def gate_signing(self, stage: str, sign: bool, name: str) -> None:
        if self.requires_signed(stage, name):
            from gitreg.repo import signing

            signing.require_sign(stage, sign)

    def stages_text(self, stage_map: StageMap) -> str:
        return yamlio.dumps(
            stages_to_dict(stage_map, list(self.config.stages), self.config.exclusive)
        )

    def transaction(self) -> Transaction:
        if self.git.head() is not None and not self.git.succeeds("symbolic-ref", "-q", "HEAD"):
            raise Conflict("HEAD is detached; check out a branch (git switch main) and try again")
        from gitreg.repo.transaction import Transaction

        return Transaction(self.git, _git_dir(self.git))

    # -- sharing --------------------------------------------------------------------------

    def publish(
        self,
        change: Callable[[Transaction], list[Event]],
        *,
        push: bool,
        guard: Callable[[], object] | None = None,
        propose: bool = False,
        branch_of: Callable[[list[Event]], str] | None = None,
    ) -> list[Event]:
        """Run ``change`` as one transaction; with ``push``, publish it, with ``propose``,
        push it to a branch for review (repo/publish.py), named by ``branch_of`` (default:
        after its first event)."""
        if push and propose:
            raise InvalidInput("{propose} pushes a branch for review; it cannot be combined "
                               "with {push}", params=("propose", "push"))
        # What start_shared fetched, if this write began there and HEAD has not moved since.
        fresh, self._fetched_at = self._fetched_at, None
        caught_up = fresh is not None and fresh == self.git.head()
        if propose:
            publisher = self._publisher()
            self._proposing = True
            try:
                events, _ = publisher.propose(
                    change, branch_of or (lambda made: proposal_branch(made[0])),
                    caught_up=caught_up)
            finally:
                self._proposing = False
            return events
        if push:
            return self._publisher().publish(change, guard, caught_up=caught_up)
        with self.transaction() as tx:
            return change(tx)

    def require_held(self, tag: str, commit: str) -> tuple[Callable[[], None], str | None]:
        """Refuse a gitreg tag on a commit origin's main branch does not hold (``Git.
        require_held``). Returns what to say once the event is read (where this clone
        cannot tell, a CI checkout at the tag: a warning, since a tag made on a branch never
        merged would read as an event, and a deploy job would ship it), and the merge that
        brought the commit into main if it is not main's own (``Git.brought_in_by``)."""
        held = self.git.require_held(tag, commit)
        if held is not None:
            return (lambda: None), self.git.brought_in_by(commit, held)
        if not self.git.run("config", "--get", "remote.origin.url", check=False).strip():
            return (lambda: None), None
        if self.git.run("rev-parse", "--is-shallow-repository").strip() == "true":
            how = ("its history is shallow; fetch the main branch's last commits (git fetch "
                   "--depth=1000 origin main, then git remote set-head origin main), as the "
                   "deploy examples do")
        else:
            how = ("it has no origin/HEAD; set it (git remote set-head origin --auto)")
        return (lambda: self.note(f"warning: cannot tell whether origin's main branch holds "
                                  f"the commit of {tag}: {how}")), None

    def start_shared(self, *, push: bool, propose: bool) -> None:
        """The first step of every write: with ``propose``, refuse one off the main branch
        (repo/publish.py); with ``propose`` or ``push``, catch up with ``origin``'s main
        branch before anything is read, so that the model, the version and the policy are
        what ``origin`` holds (a version a teammate registered and pushed is there: a stale
        clone said "unknown model"), and the write is planned on that. Its publishing then
        does not fetch again (``_fetched_at``), unless something moved ``HEAD`` in between."""
        self._fetched_at = None
        if not (push or propose):
            return
        if push and propose:
            raise InvalidInput("{propose} pushes a branch for review; it cannot be combined "
                               "with {push}", params=("propose", "push"))
        publisher = self._publisher()
        if propose:
            publisher.start_proposal()
        else:
            publisher.catch_up(publisher.sync.branch())
        self._fetched_at = self.git.head()

    def _publisher(self) -> Publisher:
        from gitreg.repo.publish import Publisher, registry_sync

        return Publisher(registry_sync(self.git), self.transaction, self.reload_config,
                         self.note)

    # -- weights out --------------------------------------------------------------------

    def _resolve(self, name: str, version: str | None, stage: str | None) -> VersionRecord:
        if (version is None) == (stage is None):
            raise InvalidInput("give exactly one of {version} or {stage}",
                               params=("version", "stage"))
        if stage is not None:
            self.require_model(name)
            self.config.check_stage(stage)
            held = self.which(name, stage)
            if len(held) > 1:  # never pick one silently (issue 14)
                raise InvalidInput(
                    f"{stage} holds several versions of {name} ({', '.join(held)}); say which "
                    "with {version}", params=("version",))
            version = self.version_in(name, stage)
        assert version is not None
        return self.record(name, version)

    def get(
        self, name: str, *, version: str | None = None, stage: str | None = None,
        output: Path | None = None, progress: Progress | None = None, force: bool = False,
    ) -> tuple[VersionRecord, Path]:
        """Write a version's weights to ``output``, checked against the version file first;
        an existing file or non-empty folder there is replaced only with ``force``."""
        from gitreg.weights.dvc import Weights

        record = self._resolve(name, version, stage)
        target = Path(output) if output is not None else Path.cwd()
        Weights.destination(record.artifact, target, force=force)  # before Weights() reads
        try:
            return record, Weights(self.root).deliver(record.artifact, target, force=force,
                                                      progress=progress)
        except OSError as exc:
            # Where the user's -o cannot hold a file (in /proc, a folder removed meanwhile):
            # a line naming it, not a traceback. Nothing was written (_write_out).
            if not written_under(exc, target):
                raise
            raise output_refused(exc, target) from None

    def read_weights(
        self, name: str, *, version: str | None = None, stage: str | None = None
    ) -> tuple[VersionRecord, bytes]:
        """A single-file version's bytes, verified, for deserializing in memory."""
        from gitreg.weights.dvc import Weights

        record = self._resolve(name, version, stage)
        weights = Weights(self.root)
        weights.fetch(record.artifact, record.artifact.path + ".dvc")
        return record, weights.read_file(record.artifact)



def check_place(record: VersionRecord, name: str, version: str, rel: str) -> None:
    """Refuse a version file whose content names another model or version than its path."""
    if (record.name, record.version) != (name, version):
        raise CorruptRegistry.at(rel, "name/version", f"says {record.name}@{record.version}, "
                                 f"but the file's place says {name}@{version}")


def _recover(root: Path) -> str | None:
    """Recover from a write killed part-way in the registry at ``root``, if there is one
    (a stat or two when there is none, so reads stay without the transaction's imports)."""
    if pending(root) != root:
        return None
    from gitreg.repo.transaction import recover_interrupted
    from gitreg.weights.dvc import Weights

    said = recover_interrupted(root)
    with contextlib.suppress(GitregError, OSError):  # a broken DVC config: the write says so
        Weights(root).sweep()  # the partial weights objects the dead write left (issue 14)
    return said


def _git_dir(git: Git) -> Path:
    dot_git = git.root / ".git"
    if dot_git.is_dir():
        return dot_git
    return Path(git.run("rev-parse", "--absolute-git-dir").strip())


def _identity(git: Git, env: Mapping[str, str]) -> str:
    ident = git.run("var", "GIT_AUTHOR_IDENT", env=env).strip()
    return ident.rsplit(" ", 2)[0]  # drop the timestamp and timezone


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except InvalidInput:
        return False
    return True


def _moment(at: str | datetime) -> str:
    """``--at`` as an ISO timestamp; a bare date means the end of that day."""
    if isinstance(at, str) and len(at) == 10:
        try:
            day = datetime.fromisoformat(at).date()
        except ValueError:
            pass
        else:
            return iso_timestamp(datetime.combine(day, time(23, 59, 59)), "--at date")
    return iso_timestamp(at, "--at date")
