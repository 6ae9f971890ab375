"""Training data as in the SQuAD literature: located answers, synthetic negatives, windows.

- answer_start values off by one or two characters are repaired; answers that cannot be
  located are skipped and counted, never silently mislabelled;
- unanswerable questions (SQuAD 2.0) are labelled with the CLS position in every window;
- `negatives` adds unanswerable examples made by pairing a question with another paragraph
  of the same article that does not contain its answer;
- `hard_negatives` adds unanswerable questions rewritten from answerable ones, about the same
  paragraph (training/hard_negatives.py), for data that has no genuine ones.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from spanqa.data import load_squad
from spanqa.data.squad import article_contexts
from spanqa.inference.features import encode_windows
from spanqa.settings import ReaderSettings
from spanqa.training.config import TrainConfig
from spanqa.training.hard_negatives import hard_negatives as write_hard_negatives
from spanqa.types import Example

QuestionKey = tuple[str, str]

REPAIR_SHIFTS = (-1, 1, -2, 2)
# Questions tokenised at a time: the tokenizer's encodings of a whole SQuAD train set (with their
# token strings and offsets) take over 10 GB; a chunk's are freed before the next is made.
ENCODE_CHUNK = 2000


@dataclass(frozen=True)
class TrainingWindow:
    """What a step needs of a window: its tokens, segment ids and labels (no character offsets).

    5 bytes a token (int32 ids, int8 segments) where an inference Window keeps about 50 (int64 ids,
    segments and two pairs of character offsets, and a mask).
    """

    example_index: int
    input_ids: np.ndarray  # [L] int32
    token_type_ids: np.ndarray | None  # [L] int8
    cls_index: int
    start_label: int
    end_label: int

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass
class PreparationSummary:
    questions: int = 0
    answerable: int = 0
    unanswerable: int = 0
    repaired: int = 0
    skipped: int = 0
    duplicates: int = 0
    excluded: int = 0
    synthetic_negatives: int = 0
    hard_negatives: dict[str, int] = field(default_factory=dict)
    windows: int = 0
    windows_with_answer: int = 0
    skipped_ids: list[str] = field(default_factory=list)

    def hard_negative_kinds(self) -> str:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in self.hard_negatives.items())
        return f" ({kinds})" if kinds else ""

    def lines(self) -> list[str]:
        return [
            f"questions: {self.questions:,} ({self.answerable:,} answerable, {self.unanswerable:,} unanswerable)",
            f"answer_start repaired (off by 1-2 characters): {self.repaired:,}",
            f"answers not found in their context, skipped: {self.skipped:,}"
            + (f" (e.g. {', '.join(self.skipped_ids[:3])})" if self.skipped_ids else ""),
            f"duplicate questions (same question and context as an earlier one), dropped: {self.duplicates:,}",
            f"questions held out (--exclude), left out: {self.excluded:,}",
            f"synthetic negatives added: {self.synthetic_negatives:,}",
            f"hard unanswerable questions written: {sum(self.hard_negatives.values()):,}{self.hard_negative_kinds()}",
            f"windows: {self.windows:,} ({self.windows_with_answer:,} contain their answer)",
        ]


def question_key(example: Example) -> QuestionKey:
    """What training deduplicates on: a question asked twice of one paragraph is one question."""
    return example.question.strip(), example.context


def training_questions(config: TrainConfig) -> tuple[list[Example], list[Example]]:
    """(the questions of config's --train files, cut to --max-train-examples; the --exclude questions)."""
    examples = [e for path in config.train_files for e in load_squad(path)]
    if config.max_train_examples is not None:
        examples = examples[: config.max_train_examples]
    return examples, [e for path in config.exclude_files for e in load_squad(path)]


def locate_answer(example: Example) -> tuple[tuple[int, int] | None, bool]:
    """(start, end) character span of the first gold answer and whether it had to be repaired."""
    answer = example.answers[0]
    text, context = answer.text, example.context
    if context[answer.start : answer.start + len(text)] == text:
        return (answer.start, answer.start + len(text)), False
    for shift in REPAIR_SHIFTS:
        start = answer.start + shift
        if start >= 0 and context[start : start + len(text)] == text:
            return (start, start + len(text)), True
    stripped = text.strip()
    if stripped and stripped != text:
        position = context.find(stripped, max(answer.start - 2, 0))
        if 0 <= position - answer.start <= len(text):
            return (position, position + len(stripped)), True
    return None, False


def _synthetic_negatives(examples: Sequence[Example], rate: float, rng: random.Random) -> list[Example]:
    """Pair answerable questions with other paragraphs of their article that lack the answer."""
    by_title = article_contexts(examples)
    negatives = []
    for example in examples:
        if not example.answers:
            continue
        count = int(rate) + (1 if rng.random() < rate - int(rate) else 0)
        others = [c for c in by_title.get(example.title, []) if c != example.context]
        answer_texts = [a.text.lower() for a in example.answers]
        others = [c for c in others if not any(t in c.lower() for t in answer_texts)]
        for n, context in enumerate(rng.sample(others, min(count, len(others)))):
            negatives.append(
                Example(
                    id=f"{example.id}-neg{n}",
                    question=example.question,
                    context=context,
                    is_impossible=True,
                    title=example.title,
                )
            )
    return negatives


def select_training_examples(
    examples: Sequence[Example],
    negatives: float = 0.0,
    seed: int = 0,
    exclude: Sequence[Example] = (),
    hard_negatives: float = 0.0,
) -> tuple[list[Example], list[tuple[int, int] | None], PreparationSummary]:
    """The examples training uses, in order, with their answer spans (None: unanswerable).

    Held-out questions (`exclude`: the same id, or the same question of the same paragraph) are
    left out, duplicates dropped, answers located (or the example skipped), synthetic and hard
    negatives appended (never made from a held-out question).
    """
    summary = PreparationSummary()
    kept: list[Example] = []
    spans: list[tuple[int, int] | None] = []
    seen: set[QuestionKey] = set()
    held_out_ids = {e.id for e in exclude}
    held_out_keys = {question_key(e) for e in exclude}
    for example in examples:
        key = question_key(example)
        if example.id in held_out_ids or key in held_out_keys:
            summary.excluded += 1
            continue
        if key in seen:
            summary.duplicates += 1
            continue
        seen.add(key)
        summary.questions += 1
        if example.is_impossible or not example.answers:
            summary.unanswerable += 1
            kept.append(example)
            spans.append(None)
            continue
        span, repaired = locate_answer(example)
        if span is None:
            summary.skipped += 1
            summary.skipped_ids.append(example.id)
            continue
        summary.answerable += 1
        summary.repaired += int(repaired)
        kept.append(example)
        spans.append(span)
    if negatives > 0:
        synthetic = _synthetic_negatives(kept, negatives, random.Random(seed))
        summary.synthetic_negatives = len(synthetic)
        kept.extend(synthetic)
        spans.extend([None] * len(synthetic))
    if hard_negatives > 0:
        hard, summary.hard_negatives = write_hard_negatives(kept, hard_negatives, random.Random(f"{seed}-hard"))
        kept.extend(hard)
        spans.extend([None] * len(hard))
    return kept, spans, summary


def prepare_training_windows(
    tokenizer,
    examples: Sequence[Example],
    settings: ReaderSettings,
    negatives: float = 0.0,
    seed: int = 0,
    exclude: Sequence[Example] = (),
    hard_negatives: float = 0.0,
) -> tuple[list[TrainingWindow], PreparationSummary]:
    """Training windows (`example_index` points into `select_training_examples`'s list)."""
    kept, spans, summary = select_training_examples(examples, negatives, seed, exclude, hard_negatives)
    windows = training_windows(tokenizer, kept, spans, settings)
    summary.windows = len(windows)
    summary.windows_with_answer = sum(w.start_label != w.cls_index for w in windows)
    return windows, summary


def training_windows(
    tokenizer, examples: Sequence[Example], spans: Sequence[tuple[int, int] | None], settings: ReaderSettings
) -> list[TrainingWindow]:
    """The labelled windows of `examples`, in order, tokenised ENCODE_CHUNK questions at a time."""
    windows: list[TrainingWindow] = []
    for begin in range(0, len(examples), ENCODE_CHUNK):
        chunk = examples[begin : begin + ENCODE_CHUNK]
        questions, contexts = [e.question for e in chunk], [e.context for e in chunk]
        for window in encode_windows(tokenizer, questions, contexts, settings, spans[begin : begin + ENCODE_CHUNK]):
            types = window.token_type_ids
            windows.append(
                TrainingWindow(
                    example_index=begin + window.example_index,
                    input_ids=window.input_ids.astype(np.int32),
                    token_type_ids=None if types is None else types.astype(np.int8),
                    cls_index=window.cls_index,
                    start_label=window.start_label,
                    end_label=window.end_label,
                )
            )
    return windows
