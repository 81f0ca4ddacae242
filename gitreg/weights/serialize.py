"""Model objects to bytes and back: pickle, joblib and skops; and a weights file's format.

``register_model`` writes an object in one of the object formats; ``get_model`` loads it
by the format its version file records, only after the bytes passed the md5 check
(weights.py). Unpickling (pickle, and joblib, which is pickle underneath) runs code from
the file, so safe loading (``GITREG_SAFE_LOAD=1``, or ``safe_load: true`` in
``registry.yaml``) refuses it. skops rebuilds scikit-learn objects without running code
and loads only the types it trusts; others must be named by the caller.

joblib and skops are optional extras (``gitreg[joblib]``, ``gitreg[skops]``), imported
only when used.
"""

from __future__ import annotations

import enum
import io
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitreg.errors import InvalidInput, UnsafeLoad

SAFE_LOAD_ENV = "GITREG_SAFE_LOAD"


class ObjectFormat(str, enum.Enum):
    """How ``register_model`` serializes a model object."""

    PICKLE = "pickle"
    JOBLIB = "joblib"
    SKOPS = "skops"

    @property
    def suffix(self) -> str:
        return {"pickle": ".pkl", "joblib": ".joblib", "skops": ".skops"}[self.value]


# What ``register_file`` records for a file of weights, by its extension.
_BY_SUFFIX = {
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".skops": "skops",
}
_UNPICKLED = (ObjectFormat.PICKLE.value, ObjectFormat.JOBLIB.value)


def detect_format(path: Path) -> str:
    """The format of a file or folder of weights: by extension; ``directory`` or ``file``."""
    if path.is_dir():
        return "directory"
    return _BY_SUFFIX.get(path.suffix.lower(), "file")


def object_format(value: ObjectFormat | str) -> ObjectFormat:
    try:
        return ObjectFormat(value)
    except ValueError:
        known = ", ".join(f.value for f in ObjectFormat)
        raise InvalidInput(f"unknown model format {value!r}; use one of: {known}") from None


def dump(model: Any, format: ObjectFormat, folder: Path) -> Path:
    """Write ``model`` to ``folder/model.<suffix>``; returns the file."""
    path = folder / f"model{format.suffix}"
    if format is ObjectFormat.PICKLE:
        with path.open("wb") as handle:
            pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    elif format is ObjectFormat.JOBLIB:
        _joblib().dump(model, path)
    else:
        path.write_bytes(_skops().dumps(model))
    return path


def load(
    data: bytes,
    format: str,
    *,
    what: str,
    trusted: Sequence[str] = (),
    safe_reason: str | None = None,
) -> Any:
    """The object ``data`` holds (already checked against its md5), loaded by ``format``.

    ``what`` names the version in messages; ``safe_reason`` says why safe loading is on
    (``None``: off); ``trusted`` are skops types the caller has reviewed.
    """
    if format in _UNPICKLED and safe_reason is not None:
        raise UnsafeLoad(
            f"refusing to load {what}: it is a {format} file, and unpickling it would run code "
            f"from it, but safe loading is on ({safe_reason}). If you trust this registry, "
            f"allow it with {SAFE_LOAD_ENV}=0; otherwise register the model with "
            "format='skops', or write the file with get_weights(...) and inspect it"
        )
    if format == ObjectFormat.PICKLE.value:
        return pickle.loads(data)
    if format == ObjectFormat.JOBLIB.value:
        return _joblib().load(io.BytesIO(data))
    if format == ObjectFormat.SKOPS.value:
        return _load_skops(data, what, trusted)
    raise InvalidInput(
        f"{what} holds {format} weights, not a serialized model object; "
        "use get_weights(...) to write them to a path and load them with their framework"
    )


def _load_skops(data: bytes, what: str, trusted: Sequence[str]) -> Any:
    sio = _skops()
    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in trusted]
    if untrusted:
        listed = ", ".join(repr(t) for t in untrusted)
        raise UnsafeLoad(
            f"refusing to load {what}: its skops file holds types that skops does not trust "
            f"by default: {listed}. Review them, and if you trust them, pass "
            f"trusted=[{listed}] to get_model"
        )
    return sio.loads(data, trusted=list(trusted) or None)


def safe_load_reason(registry_setting: bool) -> str | None:
    """Why safe loading is on, or ``None`` when it is off.

    ``GITREG_SAFE_LOAD`` (1 or 0) is the loading user's choice and wins; unset, the
    registry's ``safe_load`` setting applies.
    """
    value = os.environ.get(SAFE_LOAD_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return f"{SAFE_LOAD_ENV}={os.environ[SAFE_LOAD_ENV]}"
    if value in ("0", "false", "no", "off"):
        return None
    if value:
        raise InvalidInput(f"{SAFE_LOAD_ENV}={value!r}: expected 1 (refuse to unpickle) or 0")
    return "safe_load: true in registry.yaml" if registry_setting else None


def _joblib() -> Any:
    try:
        import joblib
    except ImportError:
        raise InvalidInput(
            "the joblib format needs joblib: pip install 'gitreg[joblib]'"
        ) from None
    return joblib


def _skops() -> Any:
    try:
        import skops.io
    except ImportError:
        raise InvalidInput("the skops format needs skops: pip install 'gitreg[skops]'") from None
    return skops.io
