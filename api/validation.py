"""Input checks that depend on the settings (the schemas hold the static ones)."""

from __future__ import annotations

from sqlalchemy.orm import InstrumentedAttribute

from api.errors import InvalidInput
from api.settings import Settings
from model.text import mask_optional


def check_length(text: str, settings: Settings, loc: list[str | int]) -> None:
    """422 naming the field when a text is longer than the configured limit."""
    if len(text) > settings.max_text_chars:
        raise InvalidInput(
            f"the text has {len(text)} characters; the limit is {settings.max_text_chars}",
            loc=loc,
            type="string_too_long",
            max_length=settings.max_text_chars,
        )


def masked_to_fit(value: str | None, column: InstrumentedAttribute[str | None], loc: list[str | int]) -> str | None:
    """`mask_optional(value)`, or a 422 naming the field when the masked value is longer than
    its column: a placeholder can be longer than what it replaces ("a@b.cn" → "[EMAIL]")."""
    masked = mask_optional(value)
    limit = getattr(column.type, "length", None)
    if masked is not None and limit is not None and len(masked) > limit:
        raise InvalidInput(
            f"{len(masked)} characters once personal data is masked ([PHONE], [EMAIL] …); at most {limit}",
            loc=loc,
            type="string_too_long",
            max_length=limit,
        )
    return masked
