"""The model in service: loaded from the registry at start, swapped when CURRENT changes.

`ModelHolder.get()` returns the `LoadedModel` in service; a request keeps the object it got for
its whole duration, so a swap never changes a model under a request. At most every
`poll_seconds` a `get()` re-reads the registry's CURRENT pointer; when it names another version,
a background thread loads and warms that version (with the review thresholds stored beside it)
and then replaces the reference in one assignment, so the model and its thresholds change
together. A version that fails to load is logged and skipped; the old one keeps serving.
Thresholds written beside the version in service (`triage thresholds` on it) are taken up at
the next check as well.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.services.thresholds import Thresholds, load_version_thresholds
from model.artifact import load_model, read_metadata
from model.errors import ArtifactError, ModelError
from model.predictor import TriageModel
from training.registry import Registry, RegistryError
from training.thresholds import THRESHOLDS_FILE

WARM_UP_TEXT = "快递三天没送到，打客服电话也没人接，要求退款。"

log = logging.getLogger("api.model")


@dataclass(frozen=True)
class LoadedModel:
    """A model version in service: the model, its metadata, its folder, when it was loaded, and
    the review thresholds stored with it (None: the settings' defaults apply)."""

    model: TriageModel
    metadata: dict[str, Any]
    path: Path
    loaded_at: datetime
    thresholds: Thresholds | None = None
    thresholds_stamp: tuple[int, int] | None = None  # (mtime_ns, size) of thresholds.json when read

    @property
    def version(self) -> str:
        """The version id."""
        return self.model.version


def _thresholds_stamp(folder: Path) -> tuple[int, int] | None:
    """When and how big the version's thresholds file is (None when it has none)."""
    try:
        status = (folder / THRESHOLDS_FILE).stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


_cache_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[TriageModel, dict[str, Any]]] = {}
_CACHE_SIZE = 4


def load_version(folder: Path) -> tuple[TriageModel, dict[str, Any]]:
    """Verify and load a version folder, warming it with one prediction.

    Loaded models are immutable and kept in a small per-process cache keyed by folder and
    payload hash, so several apps in one process (tests, workers) share one copy.
    """
    metadata = read_metadata(folder)
    key = (str(folder.resolve()), str(metadata.get("payload_sha256", "")))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    model, metadata = load_model(folder)
    model.predict(WARM_UP_TEXT, explain=True)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (model, metadata)
    return model, metadata


class ModelHolder:
    """Holds the model in service and follows the registry's CURRENT pointer."""

    def __init__(
        self,
        registry: Registry,
        *,
        poll_seconds: float = 2.0,
        loader: Callable[[Path], tuple[TriageModel, dict[str, Any]]] = load_version,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.poll_seconds = poll_seconds
        self._loader = loader
        self._monotonic = monotonic
        self._current: LoadedModel | None = None
        self._last_check = 0.0
        self._failed: str | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> LoadedModel:
        """Load the registry's current version now; raises ModelError when it cannot."""
        path = self.registry.current_path()
        if path is None:
            raise ArtifactError(f"{self.registry.root}: no current model version; train and promote one")
        loaded = self._load(path)
        self._current = loaded
        self._last_check = self._monotonic()
        return loaded

    def _load(self, path: Path) -> LoadedModel:
        model, metadata = self._loader(path)
        stamp = _thresholds_stamp(path)
        return LoadedModel(model, metadata, path, datetime.now(UTC), load_version_thresholds(path), stamp)

    def _reread_thresholds(self, current: LoadedModel) -> bool:
        """Take up thresholds written beside the version in service (`triage thresholds` on it)."""
        stamp = _thresholds_stamp(current.path)
        if stamp == current.thresholds_stamp:
            return False
        try:
            thresholds = load_version_thresholds(current.path)
        except ArtifactError as error:
            log.error("keeping the review thresholds in service: %s", error)
            self._current = replace(current, thresholds_stamp=stamp)  # said once, not at every check
            return False
        self._current = replace(current, thresholds=thresholds, thresholds_stamp=stamp)
        log.info("review thresholds of %s re-read from %s", current.version, current.path)
        return True

    @property
    def ready(self) -> bool:
        """True once a model is in service."""
        return self._current is not None

    def get(self) -> LoadedModel:
        """The model in service (and, at most every `poll_seconds`, a look at CURRENT)."""
        current = self._current
        if current is None:
            raise ArtifactError("no model is loaded yet")
        if self.poll_seconds > 0 and self._monotonic() - self._last_check >= self.poll_seconds:
            self._check_in_background()
        return current

    def _check_in_background(self) -> None:
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._last_check = self._monotonic()
            self._worker = threading.Thread(target=self.refresh, name="model-refresh", daemon=True)
            self._worker.start()

    def wait(self) -> None:
        """Wait for a background check that is under way (tests and shutdown)."""
        worker = self._worker
        if worker is not None:
            worker.join()

    def refresh(self) -> bool:
        """Re-read CURRENT now; load and swap in a new version. True when the model changed."""
        try:
            version = self.registry.current_version()
        except RegistryError as error:
            log.error("keeping the model in service: %s", error)
            return False
        current = self._current
        if current is not None and version == current.path.name:
            return self._reread_thresholds(current)
        if version is None or version == self._failed:
            return False
        path = self.registry.root / version
        try:
            loaded = self._load(path)
        except (ModelError, OSError) as error:
            self._failed = version
            self.last_error = f"version {version} could not be loaded: {error}"
            log.error("keeping model %s: %s", current.version if current else "none", self.last_error)
            return False
        self._current = loaded
        self._failed = None
        self.last_error = None
        log.info("model swapped: %s -> %s", current.version if current else "none", loaded.version)
        return True
