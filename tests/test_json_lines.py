"""JSON Lines input (predict tables, classification data, documents): one reader, each bad line named."""

from __future__ import annotations

import pytest

from spanqa.classify.data import read_records
from spanqa.data.json_lines import json_lines
from spanqa.data.tables import read_rows
from spanqa.documents.formats import UnreadableFile, read_jsonl
from spanqa.errors import DataFileError


def _problem(number: int, what: str) -> ValueError:
    return ValueError(f"line {number} {what}")


def test_blank_lines_are_skipped_and_numbers_count_every_line():
    text = '{"a": 1}\n\n   \n{"a": 2}\r\n'
    assert list(json_lines(text, _problem)) == [(1, {"a": 1}), (4, {"a": 2})]


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "line 2 is not valid JSON"), ("[1, 2]", "line 2 holds a JSON list, not an object")],
)
def test_a_bad_line_raises_the_callers_error_with_its_number(line, message):
    with pytest.raises(ValueError, match=message):
        list(json_lines('{"a": 1}\n' + line, _problem))


BAD = '{"id": "1", "question": "Who?", "context": "Ada.", "text": "Ada.", "label": "x"}\n"just a string"\n'


def test_each_kind_of_file_says_which_line_is_bad_and_what_a_line_should_hold(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(DataFileError, match=r"line 2, holds a JSON str, not an object: .* id, question, context"):
        read_rows(path, "jsonl")
    with pytest.raises(DataFileError, match="line 2 holds a JSON str, not an object: each line must be a JSON object"):
        read_records(path)
    with pytest.raises(UnreadableFile, match="line 2 holds a JSON str, not an object; fix or remove that line"):
        read_jsonl(path)
