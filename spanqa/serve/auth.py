"""API keys: where they come from (a file, an environment variable) and checking a presented one.

Keys are kept only as SHA-256 digests, and a presented key is compared with every one of them
with `hmac.compare_digest` (digests have one length, and the loop never stops early), so the time
a check takes says nothing about which key, or how much of one, was right. A key is named in logs
and rate-limit buckets by the first 8 hex digits of its digest (`key:1a2b3c4d`), never by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from spanqa.errors import ConfigError, InputError

API_KEYS_ENV = "SPANQA_API_KEYS"
MIN_KEY_CHARS = 16
# Characters a key may hold: what fits in an HTTP header unquoted (RFC 6750's token68, plus a few).
KEY_PATTERN = re.compile(r"[A-Za-z0-9._~+/=:-]+")


class ApiKeys:
    """The set of accepted keys (as digests). `identify(token)` names the key a token is, or None."""

    def __init__(self, keys: Iterable[str]) -> None:
        digests: dict[bytes, None] = {}
        for number, key in enumerate(keys, start=1):
            _check_key(key, f"API key #{number}")
            digests[_digest(key)] = None
        if not digests:
            raise ConfigError("no API keys given: pass at least one, or none at all to serve without keys")
        self._digests = tuple(digests)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:  # never the keys themselves
        return f"ApiKeys({len(self)} keys)"

    def identify(self, token: str) -> str | None:
        """`key:<8 hex digits>` for an accepted token, None for any other (in time independent of the keys)."""
        presented = _digest(token)
        matched: bytes | None = None
        for digest in self._digests:
            if hmac.compare_digest(presented, digest):
                matched = digest
        return None if matched is None else "key:" + matched.hex()[:8]


def load_api_keys(key_file: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The keys of `key_file` (one a line; `#` comments and blank lines skipped) and of $SPANQA_API_KEYS.

    $SPANQA_API_KEYS holds keys separated by commas. Both sources add up; no source gives [].
    Errors name the file and the line, never the key.
    """
    environ = os.environ if environ is None else environ
    keys: list[str] = []
    if key_file is not None:
        keys += _read_key_file(Path(key_file))
    from_env = environ.get(API_KEYS_ENV, "")
    if from_env.strip():
        for number, key in enumerate((part.strip() for part in from_env.split(",")), start=1):
            if key:
                _check_key(key, f"key #{number} of ${API_KEYS_ENV}", InputError)
                keys.append(key)
    return keys


def _read_key_file(path: Path) -> list[str]:
    if not path.exists():
        raise InputError(f"--api-key-file {path} does not exist: check the path")
    if path.is_dir():
        raise InputError(f"--api-key-file {path} is a folder: give a text file with one key per line")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"--api-key-file {path} is not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise InputError(f"--api-key-file {path} cannot be read: {error.strerror}") from error
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.strip()
        if key and not key.startswith("#"):
            _check_key(key, f"line {number} of --api-key-file {path}", InputError)
            keys.append(key)
    if not keys:
        raise InputError(f"--api-key-file {path} holds no keys: write one key per line ('#' starts a comment)")
    return keys


def _check_key(key: str, where: str, error_class: type[Exception] = ConfigError) -> None:
    if not isinstance(key, str):
        raise error_class(f"{where} is not a string")
    if len(key) < MIN_KEY_CHARS:
        raise error_class(
            f"{where} is shorter than {MIN_KEY_CHARS} characters: use a long random key "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if not KEY_PATTERN.fullmatch(key):
        raise error_class(f"{where} holds a space or a character other than letters, digits and ._~+/=:-")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
