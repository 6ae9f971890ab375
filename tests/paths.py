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


def write_squad2_heldout(path: Path) -> Path:
    """A SQuAD 2.0 file big enough for `spanqa calibrate` to fit a no-answer threshold: the v1.1 fixture's
    answerable questions, and each question again about another paragraph, unanswerable there."""
    from spanqa.data import load_squad
    from spanqa.data.squad import examples_to_squad
    from spanqa.types import Example

    answerable = load_squad(SQUAD_V1_SMALL)
    contexts = [e.context for e in answerable]
    unanswerable = [
        Example(f"{e.id}-x", e.question, contexts[(i + 7) % len(contexts)], is_impossible=True, title=e.title)
        for i, e in enumerate(answerable)
    ]
    path.write_text(json.dumps(examples_to_squad(answerable + unanswerable, version="2.0")), encoding="utf-8")
    return path
