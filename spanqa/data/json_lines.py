"""JSON Lines: one JSON object a line, blank lines skipped, each bad line named by its number."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any


def json_lines(text: str, problem: Callable[[int, str], Exception]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line of `text` as (its line number, the object on it).

    A line that is not JSON, or holds something other than an object, raises `problem(number,
    what is wrong)`: each kind of file words the rest of the message (what a line should hold,
    how to fix it) and picks its own error type.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise problem(number, f"is not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise problem(number, f"holds a JSON {type(record).__name__}, not an object")
        yield number, record
