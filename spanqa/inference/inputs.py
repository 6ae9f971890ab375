"""Checks on what a caller passes to the reader (importable without torch)."""

from __future__ import annotations

from typing import Any

from spanqa.errors import InputError


def check_text(value: Any, field: str, limit: int | None = None) -> str:
    """`value` if it is non-blank text within `limit` characters, else an InputError naming `field`."""
    if not isinstance(value, str):
        raise InputError(f"{field} must be text, got {type(value).__name__}")
    if not value.strip():
        raise InputError(f"{field} is empty: give a non-empty {field}")
    if limit is not None and len(value) > limit:
        raise InputError(
            f"{field} has {len(value):,} characters, over the limit of {limit:,}: split it, or raise the limit "
            "(--max-context-chars, or max_context_chars in the API)"
        )
    check_encodable(value, field)
    return value


def check_encodable(value: str, field: str) -> None:
    """An InputError naming `field` when `value` holds a lone surrogate (U+D800..U+DFFF), which is no
    character: Python lets such strings through (e.g. from JSON's "\\ud800" or surrogateescape), the
    tokenizer cannot take them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(value[error.start])
        raise InputError(
            f"{field} holds a lone surrogate (U+{code:04X}) at character {error.start}, which is not a character: "
            f"pass valid Unicode text (decode your bytes as UTF-8 with errors='replace', or drop it)"
        ) from error
