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
    return value
