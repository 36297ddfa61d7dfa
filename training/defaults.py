"""The embedded default: a model trained from the team's own complaints in data/ when none serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.taxonomy import DEFAULT_TAXONOMY, load_taxonomy
from training.registry import Registry, RegistryError
from training.train import TEAM_CORPUS, train


def trained_on_team_corpus_only(metadata: dict[str, Any]) -> bool:
    """Whether a version's training files were only the team corpus (as the default model's are)."""
    files = (metadata.get("training_data") or {}).get("files") or []
    names = {Path(str(item.get("path", ""))).name for item in files if isinstance(item, dict)}
    return bool(names) and names <= {path.name for path in TEAM_CORPUS}


def ensure_current_model(registry: Registry, taxonomy_path: Path = DEFAULT_TAXONOMY) -> Path:
    """The folder of the version in service; trains and promotes the default one if there is none."""
    current = registry.current_path()
    if current is not None:
        return current
    result = train(list(TEAM_CORPUS), load_taxonomy(taxonomy_path), registry.root)
    try:
        registry.set_current(
            result.version, action="promote", actor="default", note="default model from data/", if_current=None
        )
    except RegistryError:
        # another process (a second worker started at once) promoted its default meanwhile: that one serves
        current = registry.current_path()
        if current is None:
            raise
        return current
    return result.folder
