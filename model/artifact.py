"""A model version on disk: a folder with `model.joblib` and `metadata.json`; save, verify, load.

The payload is only unpickled after its SHA-256 matches the metadata, and only when the
libraries that shaped it (scikit-learn, NumPy, jieba) are the versions it was made with and the
taxonomy and user dictionary in use are the ones it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import joblib

from model.classifier import ComplaintClassifier
from model.errors import ArtifactError
from model.files import with_umask
from model.predictor import TriageModel
from model.taxonomy import Taxonomy
from model.tokenize import resource_hashes

PAYLOAD = "model.joblib"
METADATA = "metadata.json"
# Format 2: the classifier has per-head temperatures and tier length bins. Format 3: its heads are
# stored as `StackedHead`s. Format 4: it maps each head's shown probability (`confidence_maps_`).
# Versions of older formats must be retrained.
FORMAT = 4
# Pickles are only safe with the same versions of these (the major version for NumPy).
_EXACT = ("scikit-learn", "jieba")
_MAJOR = ("numpy", "scipy")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model, recorded in its metadata."""
    names = ("scikit-learn", "numpy", "scipy", "jieba", "opencc", "joblib")
    versions = {name: package_version(name) for name in names}
    versions["python"] = platform.python_version()
    return versions


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_version_id(now: datetime | None = None) -> str:
    """A sortable, unique version id such as `20261123-121500-3f9a2c`."""
    moment = now or datetime.now(UTC)
    return moment.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


def save_model(
    model: TriageModel,
    folder: Path,
    extra: dict[str, Any] | None = None,
    add_files: Callable[[Path, dict[str, Any]], object] | None = None,
) -> dict[str, Any]:
    """Write `model` to a new version folder (atomically: a half-written folder never appears).

    `extra` is merged into the metadata (training data, metrics, …); `add_files(folder, metadata)`
    writes more files (a report) into the folder before it appears. Returns the metadata.
    """
    if folder.exists():
        raise ArtifactError(f"{folder}: already exists; a version folder is never overwritten")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        staging.chmod(with_umask(0o777))  # mkdtemp makes it private; the service may run as another user
        joblib.dump({"taxonomy": model.taxonomy, "classifier": model.classifier}, staging / PAYLOAD, compress=3)
        metadata: dict[str, Any] = {
            "format": FORMAT,
            "version": model.version or folder.name,
            "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "payload_sha256": _sha256_file(staging / PAYLOAD),
            "taxonomy_sha256": model.taxonomy.sha256,
            **resource_hashes(),
            "libraries": library_versions(),
            "params": model.describe(),
            **(extra or {}),
        }
        (staging / METADATA).write_text(json.dumps(metadata, ensure_ascii=False, indent=2), encoding="utf-8")
        if add_files is not None:
            add_files(staging, metadata)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metadata


def read_metadata(folder: Path) -> dict[str, Any]:
    """The metadata of a version folder, or ArtifactError saying what is missing or broken."""
    path = folder / METADATA
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such model folder")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; {folder} is not a model version folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path}: corrupt metadata ({error})") from None
    except OSError as error:
        raise ArtifactError(f"{path}: cannot be read ({error.strerror})") from None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{path}: corrupt metadata (not a JSON object)")
    if metadata.get("format") != FORMAT:
        raise ArtifactError(
            f"{path}: model format {metadata.get('format')!r}, this version of complaint-triage reads format "
            f"{FORMAT}; retrain the model (triage train)"
        )
    for key, kind in (("version", str), ("payload_sha256", str), ("libraries", dict)):
        if not isinstance(metadata.get(key), kind):
            raise ArtifactError(f"{path}: corrupt metadata ('{key}' missing or not a {kind.__name__})")
    return metadata


def verify_model(folder: Path, taxonomy: Taxonomy | None = None) -> dict[str, Any]:
    """Check a version folder without unpickling it; returns its metadata or raises ArtifactError."""
    metadata = read_metadata(folder)
    verify_payload(folder, metadata)
    verify_environment(folder, metadata, taxonomy)
    return metadata


def verify_payload(folder: Path, metadata: dict[str, Any]) -> None:
    """ArtifactError unless the folder's payload is there with the SHA-256 its `metadata` records
    (damage: a copy cut short, a file changed or removed)."""
    payload = folder / PAYLOAD
    if not payload.is_file():
        raise ArtifactError(f"{payload}: missing payload")
    if _sha256_file(payload) != metadata.get("payload_sha256"):
        raise ArtifactError(f"{payload}: corrupt payload (SHA-256 differs from {METADATA}); retrain or restore it")


def verify_environment(folder: Path, metadata: dict[str, Any], taxonomy: Taxonomy | None = None) -> None:
    """ArtifactError unless the libraries and the tokeniser's resources (user dictionary, stop words)
    in use, and `taxonomy` when given, are those the version of `metadata` was made with: otherwise
    it cannot be loaded here."""
    current = library_versions()
    recorded = metadata["libraries"]  # a dict: read_metadata checked it
    for name in _EXACT:
        if recorded.get(name) != current[name]:
            raise ArtifactError(
                f"{folder}: made with {name} {recorded.get(name)}, this environment has "
                f"{current[name]}; retrain the model with the installed libraries"
            )
    for name in _MAJOR:
        if str(recorded.get(name, "")).split(".")[0] != current[name].split(".")[0]:
            raise ArtifactError(
                f"{folder}: made with {name} {recorded.get(name)}, this environment has {current[name]}"
            )
    hashes = resource_hashes()
    for key, value in hashes.items():
        if metadata.get(key) != value:
            raise ArtifactError(
                f"{folder}: trained with another {key.removesuffix('_sha256').replace('_', ' ')} "
                "than the one in use; retrain the model"
            )
    if taxonomy is not None and metadata.get("taxonomy_sha256") != taxonomy.sha256:
        raise ArtifactError(f"{folder}: trained with another taxonomy than {taxonomy.source}; retrain the model")


def load_model(folder: Path, taxonomy: Taxonomy | None = None) -> tuple[TriageModel, dict[str, Any]]:
    """Verify and load a version folder; `taxonomy`, when given, must be the one it was trained on."""
    metadata = verify_model(folder, taxonomy)
    try:
        payload = joblib.load(folder / PAYLOAD)
    except Exception as error:  # a verified payload that still fails to unpickle
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise ArtifactError(f"{folder / PAYLOAD}: cannot be unpickled ({reason}); retrain or restore it") from None
    classifier = payload.get("classifier") if isinstance(payload, dict) else None
    loaded_taxonomy = payload.get("taxonomy") if isinstance(payload, dict) else None
    if not isinstance(classifier, ComplaintClassifier) or not isinstance(loaded_taxonomy, Taxonomy):
        raise ArtifactError(f"{folder / PAYLOAD}: not a complaint-triage model")
    vars(loaded_taxonomy).pop("sha256", None)  # a hash cached before pickling: computed again here
    if loaded_taxonomy.sha256 != metadata.get("taxonomy_sha256"):
        raise ArtifactError(
            f"{folder}: {METADATA} names another taxonomy (taxonomy_sha256) than the one the model was trained "
            "with; restore the folder or retrain the model"
        )
    return TriageModel(loaded_taxonomy, classifier, metadata["version"]), metadata
