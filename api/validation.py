"""Input checks that depend on the settings (the schemas hold the static ones)."""

from __future__ import annotations

from api.errors import InvalidInput
from api.settings import Settings


def check_length(text: str, settings: Settings, loc: list[str | int]) -> None:
    """422 naming the field when a text is longer than the configured limit."""
    if len(text) > settings.max_text_chars:
        raise InvalidInput(
            f"the text has {len(text)} characters; the limit is {settings.max_text_chars}",
            loc=loc,
            type="string_too_long",
        )
