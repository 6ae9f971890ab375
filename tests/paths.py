"""Where the test data lives: the one place test modules take fixture paths from.

A plain module (not a fixture), so any test module can `from paths import ...`.
"""

from __future__ import annotations

import json
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
SQUAD_V1_SMALL = FIXTURES / "squad-v1.1-dev-small.json"
SQUAD_V2_SMALL = FIXTURES / "squad-v2.0-dev-small.json"


def question_ids(path: Path) -> list[str]:
    """The question ids of a SQuAD file, in file order (read from the JSON, not through spanqa)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [qa["id"] for article in data["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
