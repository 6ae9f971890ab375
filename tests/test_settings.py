"""ReaderSettings: documented defaults, validation, replace() and the spanqa.json round trip."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from paths import REPO

from spanqa.errors import ConfigError, ModelFolderError
from spanqa.model.folder import SETTINGS_FILE, ModelInfo, model_info_payload, read_model_info
from spanqa.settings import ReaderSettings


def readme_settings_table() -> dict[str, str]:
    """{setting: default as written} from the README's table of reader settings."""
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("spanqa is installed without its source tree (no README.md)")
    lines = readme.read_text(encoding="utf-8").splitlines()
    header = lines.index("| setting | default | meaning |")
    rows = {}
    for line in lines[header + 2 :]:
        if not line.startswith("| `"):
            break
        name, default = re.match(r"\| `(\w+)` \| ([^|]+?) \|", line).groups()
        rows[name] = default
    return rows


def as_written(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    return f"{value:,}" if isinstance(value, int) else repr(value)


def test_the_readme_gives_every_setting_with_its_real_default() -> None:
    defaults = {field.name: as_written(field.default) for field in dataclasses.fields(ReaderSettings)}
    assert readme_settings_table() == defaults


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"doc_stride": 384}, "doc_stride"),  # equal to max_seq_len
        ({"doc_stride": 500}, "doc_stride"),
        ({"max_seq_len": 128, "doc_stride": 128}, "doc_stride"),
        ({"doc_stride": -1}, "doc_stride"),
        ({"max_question_len": 380}, "max_question_len"),  # no room for context at all
        ({"max_seq_len": 100, "max_question_len": 64, "doc_stride": 32}, "max_question_len"),  # room 32 <= stride
        ({"top_k": 0}, "top_k"),
        ({"top_k": -2}, "top_k"),
        ({"top_k": 1.5}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"max_answer_len": 0}, "max_answer_len"),
        ({"max_seq_len": 0}, "max_seq_len"),
        ({"max_context_chars": 0}, "max_context_chars"),
        ({"null_threshold": -0.1}, "null_threshold"),
        ({"null_threshold": 1.5}, "null_threshold"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": True}, "temperature"),
    ],
)
def test_contradictory_or_out_of_range_settings_raise(changes: dict, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        ReaderSettings(**changes)


def test_config_error_is_a_value_error_with_the_fix() -> None:
    with pytest.raises(ValueError, match="smaller than max_seq_len"):
        ReaderSettings(doc_stride=384)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0])
def test_null_threshold_bounds_are_inclusive(threshold: float) -> None:
    assert ReaderSettings(null_threshold=threshold).null_threshold == threshold


def test_smallest_valid_question_room() -> None:
    # 100 - 60 - 4 special tokens = 36 context tokens, more than doc_stride 35.
    ReaderSettings(max_seq_len=100, max_question_len=60, doc_stride=35)
    with pytest.raises(ConfigError):
        ReaderSettings(max_seq_len=100, max_question_len=60, doc_stride=36)


def test_replace_keeps_zero_values() -> None:
    settings = ReaderSettings(null_threshold=0.7).replace(doc_stride=0, null_threshold=0.0)
    assert settings.doc_stride == 0
    assert settings.null_threshold == 0.0
    assert settings.replace(handle_impossible_answer=False, align_to_words=False).align_to_words is False


def test_replace_none_keeps_the_current_value() -> None:
    settings = ReaderSettings(top_k=4, max_answer_len=7)
    replaced = settings.replace(top_k=None, max_answer_len=None, doc_stride=64)
    assert (replaced.top_k, replaced.max_answer_len, replaced.doc_stride) == (4, 7, 64)
    assert settings.doc_stride == 128  # the original is untouched


def test_replace_validates_and_rejects_unknown_names() -> None:
    with pytest.raises(ConfigError, match="doc_stride"):
        ReaderSettings().replace(doc_stride=384)
    with pytest.raises(ConfigError, match="max_anwser_len"):
        ReaderSettings().replace(max_anwser_len=3)


def test_dict_round_trip_ignores_unknown_keys() -> None:
    settings = ReaderSettings(max_seq_len=256, doc_stride=0, top_k=3, null_threshold=0.0, align_to_words=False)
    assert ReaderSettings.from_dict(settings.to_dict()) == settings
    assert ReaderSettings.from_dict({**settings.to_dict(), "from_the_future": 1}) == settings


def test_spanqa_json_round_trip(tmp_path: Path) -> None:
    info = ModelInfo(
        head="pointer",
        settings=ReaderSettings(max_seq_len=256, doc_stride=0, max_answer_len=3, null_threshold=0.0),
        extra={"trained_on": "squad-v2.0", "steps": 12},
    )
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(model_info_payload(info)), encoding="utf-8")
    loaded = read_model_info(tmp_path)
    assert loaded == info
    assert loaded.settings.doc_stride == 0 and loaded.settings.null_threshold == 0.0
    payload = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert payload["head"] == "pointer" and payload["reader"]["max_answer_len"] == 3


def test_folder_without_spanqa_json_gets_defaults(tmp_path: Path) -> None:
    assert read_model_info(tmp_path) == ModelInfo()
    assert read_model_info(tmp_path).settings == ReaderSettings()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"head": "bilinear"}', "head must be"),
        ('{"reader": {"doc_stride": 999}}', "doc_stride"),
    ],
)
def test_bad_spanqa_json_is_a_model_folder_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / SETTINGS_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ModelFolderError, match=message):
        read_model_info(tmp_path)
