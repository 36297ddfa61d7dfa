"""The code standards as tests, so that CI enforces them: ruff (lint and format), mypy --strict, and a
README whose configuration table names every setting of the service."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_the_code_passes(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_setting_of_the_service_is_in_the_readmes_configuration_table() -> None:
    """Each `api.settings.Settings` field has its variable in a row of the README's table (by its
    TRIAGE_ name or an alias), where `| TRIAGE_THRESHOLD_CATEGORY / _SUBTYPE |` names
    TRIAGE_THRESHOLD_SUBTYPE too."""
    from pydantic import AliasChoices

    from api.settings import Settings

    documented: set[str] = set()
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        names = re.findall(r"`([A-Z][A-Z_]+|_[A-Z_]+)`", line.split(" | ")[0]) if line.startswith("| `") else []
        if names:
            family = "_".join(names[0].split("_")[:2])
            documented |= {family + name if name.startswith("_") else name for name in names}
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    missing = []
    for name, field in Settings.model_fields.items():
        aliases = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else []
        if not documented & {f"{prefix}{name}".upper(), *(str(alias) for alias in aliases)}:
            missing.append(f"{prefix}{name}".upper())
    assert not missing, f"settings missing from the README's configuration table: {', '.join(missing)}"
