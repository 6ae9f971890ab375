"""Errors raised by spanqa.

The library never prints or exits. Every user mistake raises a subclass of
`SpanQAError` whose message names the problem and the fix; the CLI prints that
message on one line and exits non-zero, the server maps each family to a 4xx.
"""

from __future__ import annotations


class SpanQAError(Exception):
    """Base class of every error spanqa raises on purpose."""


class InputError(SpanQAError, ValueError):
    """A question, a context or an argument the caller passed is not usable."""


class ConfigError(SpanQAError, ValueError):
    """Settings that contradict each other or lie outside their range."""


class ModelFolderError(SpanQAError):
    """A model folder is missing, unreadable or not in the expected format."""


class DataFileError(SpanQAError):
    """A data, predictions or probabilities file is missing or malformed."""


class MissingExtraError(SpanQAError, ImportError):
    """An optional dependency is not installed; the message names the pip install."""


class IgnoredInputWarning(UserWarning):
    """Part of the input was left out, as the official tools leave it out (e.g. prediction ids that
    match no question); the message counts what was ignored and shows a few."""
