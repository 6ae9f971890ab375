"""Make a question-paragraph answerability data set from the SQuAD fixtures in tests/fixtures.

Every answerable question gives two rows: with its own paragraph ("answerable") and with a paragraph
of another article ("unanswerable"), so the two labels are balanced. Questions are split into train
and eval by a hash of their id (about 80/20), so no question is in both files.

    python scripts/make_answerability_pairs.py --out data/answerability
    # writes data/answerability/train.csv and eval.csv (columns: question, paragraph, label)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = sorted((REPO / "tests" / "fixtures").glob("squad-*.json"))


def squad_questions(paths: list[Path]) -> list[dict[str, str]]:
    """(id, title, question, paragraph) of every answerable question, duplicates (same question and paragraph) once."""
    seen, rows = set(), []
    for path in paths:
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    key = (qa["question"].strip(), paragraph["context"])
                    if qa.get("is_impossible") or not qa["answers"] or key in seen:
                        continue
                    seen.add(key)
                    rows.append({"id": qa["id"], "title": article["title"], "question": key[0], "paragraph": key[1]})
    return rows


def answerability_rows(questions: list[dict[str, str]], seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for item in questions:
        others = sorted({q["paragraph"] for q in questions if q["title"] != item["title"]})
        rows.append(
            {"id": item["id"], "question": item["question"], "paragraph": item["paragraph"], "label": "answerable"}
        )
        rows.append(
            {"id": item["id"], "question": item["question"], "paragraph": rng.choice(others), "label": "unanswerable"}
        )
    return rows


def is_eval(question_id: str, eval_share: float) -> bool:
    return int(hashlib.sha256(question_id.encode()).hexdigest(), 16) % 1000 < eval_share * 1000


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["question", "paragraph", "label"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    temporary.replace(path)  # atomic: a reader never sees half a file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for train.csv and eval.csv")
    parser.add_argument("--eval-share", type=float, default=0.2, help="share of questions held out for eval.csv")
    parser.add_argument("--seed", type=int, default=0, help="seed for the choice of the other article's paragraph")
    args = parser.parse_args()
    rows = answerability_rows(squad_questions(FIXTURES), args.seed)
    train = [row for row in rows if not is_eval(row["id"], args.eval_share)]
    held_out = [row for row in rows if is_eval(row["id"], args.eval_share)]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "train.csv", train)
    write_csv(args.out / "eval.csv", held_out)
    print(f"wrote {len(train)} rows to {args.out / 'train.csv'} and {len(held_out)} rows to {args.out / 'eval.csv'}")


if __name__ == "__main__":
    main()
