"""The evaluation report: official metrics plus breakdowns that help understand the errors.

`build_report` turns a `SquadEvaluation` into one JSON-ready dict; `write_report_json` and
`write_report_html` (in report_html.py, which loads matplotlib only when called) write it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from spanqa.evaluation.metrics import QuestionScore, SquadEvaluation, score_answer
from spanqa.fileio import write_json_atomic

QUESTION_WORDS = ["what", "who", "when", "where", "why", "how many", "how", "which", "other"]
ANSWER_LENGTHS = ["no answer", "1", "2", "3", "4-5", "6-10", "11+"]
CONTEXT_LENGTHS = ["1-100", "101-150", "151-200", "201-300", "301+"]
CALIBRATION_BINS = 10
WORST_MISSES = 20

_WORD = re.compile(r"\w+")
_WHO = {"who", "whom", "whose"}
_SIMPLE_WORDS = {"what", "when", "where", "why", "which"}


def question_word(question: str) -> str:
    """The first question word of `question`: what, who, when, where, why, how many, how, which, or other."""
    tokens = _WORD.findall(question.lower())
    for index, token in enumerate(tokens):
        if token in _SIMPLE_WORDS:
            return token
        if token in _WHO:
            return "who"
        if token == "how":
            return "how many" if tokens[index + 1 : index + 2] == ["many"] else "how"
    return "other"


def _bucket(length: int, edges: Sequence[tuple[int, str]], last: str) -> str:
    for upper, name in edges:
        if length <= upper:
            return name
    return last


def answer_length_bucket(gold_answers: Sequence[str]) -> str:
    """The length in words of the shortest gold answer, bucketed ("no answer" when there is none)."""
    lengths = [len(text.split()) for text in gold_answers if text.split()]
    if not lengths:
        return "no answer"
    return _bucket(min(lengths), [(1, "1"), (2, "2"), (3, "3"), (5, "4-5"), (10, "6-10")], "11+")


def context_length_bucket(context: str) -> str:
    """The length of the context in white-space separated words, bucketed."""
    return _bucket(len(context.split()), [(100, "1-100"), (150, "101-150"), (200, "151-200"), (300, "201-300")], "301+")


def breakdown(
    questions: Sequence[QuestionScore], key: Callable[[QuestionScore], str], order: Sequence[str]
) -> list[dict[str, Any]]:
    """EM and F1 (percent, after the no-answer threshold) of each group that has questions."""
    groups: dict[str, list[QuestionScore]] = {name: [] for name in order}
    for question in questions:
        groups.setdefault(key(question), []).append(question)
    return [
        {
            "group": name,
            "count": len(members),
            "exact": 100.0 * sum(q.exact for q in members) / len(members),
            "f1": 100.0 * sum(q.f1 for q in members) / len(members),
        }
        for name, members in groups.items()
        if members
    ]


def calibration(
    questions: Sequence[QuestionScore], answer_scores: Mapping[str, float], bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Reliability of the reader's scores: per score bin, the mean score against the exact-match rate.

    `answer_scores` maps a question id to the score of the reader's best answer (the one
    written as the prediction).
    """
    pairs = [
        (answer_scores[q.id], q.raw_exact) for q in questions if q.id in answer_scores and q.prediction is not None
    ]
    if not pairs:
        return {"count": 0, "bins": [], "expected_calibration_error": None}
    rows, ece = reliability([score for score, _ in pairs], [exact for _, exact in pairs], bins)
    return {"count": len(pairs), "bins": rows, "expected_calibration_error": ece}


def first_reference_calibration(
    questions: Sequence[QuestionScore], answer_scores: Mapping[str, float], version: str
) -> dict[str, Any]:
    """`calibration` with "exactly right" judged against the first gold answer only.

    SQuAD dev questions have several reference answers and matching any one counts, while
    training data (where scores are fitted) has one. This shows how the scores fare against a
    single annotator, the quantity they estimate.
    """
    pairs = [
        (answer_scores[q.id], score_answer(q.prediction, q.gold_answers[:1], version)[0])
        for q in questions
        if q.id in answer_scores and q.prediction is not None and q.gold_answers
    ]
    if not pairs:
        return {"count": 0, "bins": [], "expected_calibration_error": None}
    rows, ece = reliability([score for score, _ in pairs], [exact for _, exact in pairs])
    return {"count": len(pairs), "bins": rows, "expected_calibration_error": ece}


def reliability(
    scores: Sequence[float], correct: Sequence[float], bins: int = CALIBRATION_BINS
) -> tuple[list[dict[str, Any]], float]:
    """(per-bin rows, expected calibration error) of scores against 0/1 correctness.

    The expected calibration error is the count-weighted mean of |exact-match rate - mean score|
    over the bins.
    """
    score_array = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    correct_array = np.asarray(correct, dtype=np.float64)
    # bin i holds [i/bins, (i+1)/bins); a score of exactly 1 goes to the last bin
    index = np.minimum((score_array * bins).astype(np.int64), bins - 1)
    rows = []
    ece = 0.0
    for i in range(bins):
        members = index == i
        count = int(members.sum())
        mean_score = float(score_array[members].mean()) if count else None
        exact_rate = float(correct_array[members].mean()) if count else None
        if count:
            ece += count / len(score_array) * abs(exact_rate - mean_score)
        rows.append(
            {
                "lower": i / bins,
                "upper": (i + 1) / bins,
                "count": count,
                "mean_score": mean_score,
                "exact_rate": exact_rate,
            }
        )
    return rows, ece


def threshold_curve(questions: Sequence[QuestionScore], na_probs: Mapping[str, float]) -> dict[str, list[float]]:
    """EM and F1 (percent) when answering "no answer" above each threshold that changes a decision.

    At threshold t a question whose no-answer probability exceeds t scores 1 when it has no
    gold answer and 0 otherwise (the official rule); the rest keep their raw scores.
    """
    scored = [q for q in questions if q.prediction is not None and q.na_prob is not None]
    if not scored:
        return {"thresholds": [], "exact": [], "f1": []}
    probs = np.array([q.na_prob for q in scored], dtype=np.float64)
    order = np.argsort(probs, kind="stable")
    probs = probs[order]
    no_answer = np.array([not q.has_answer for q in scored], dtype=np.float64)[order]
    curves = {}
    for name in ("exact", "f1"):
        raw = np.array([getattr(q, f"raw_{name}") for q in scored], dtype=np.float64)[order]
        answered = np.concatenate([[0.0], np.cumsum(raw)])  # the first k questions answered
        abstained = np.concatenate([np.cumsum(no_answer[::-1])[::-1], [0.0]])  # the rest abstain
        curves[name] = answered + abstained
    # a threshold equal to the last of a run of tied probabilities answers the whole run
    last_of_run = np.flatnonzero(np.append(probs[1:] != probs[:-1], True))
    keep, thresholds = last_of_run + 1, probs[last_of_run]
    if probs[0] > 0:  # threshold 0 then abstains everywhere
        keep, thresholds = np.concatenate([[0], keep]), np.concatenate([[0.0], thresholds])
    total = len(questions)
    return {
        "thresholds": thresholds.tolist(),
        "exact": (100.0 * curves["exact"][keep] / total).tolist(),
        "f1": (100.0 * curves["f1"][keep] / total).tolist(),
    }


def worst_misses(
    questions: Sequence[QuestionScore], limit: int = WORST_MISSES, confidence: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """The `limit` lowest-F1 questions (F1 below 1), the most confident first among equal F1."""
    positions = {q.id: i for i, q in enumerate(questions)}
    misses = [q for q in questions if q.f1 < 1]

    def sort_key(q: QuestionScore) -> tuple[float, bool, float, int]:
        sure = 0.0 if confidence is None else -confidence.get(q.id, 0.0)
        return (q.f1, q.prediction is None, sure, positions[q.id])

    return [
        {
            "id": q.id,
            "question": q.question,
            "gold_answers": list(dict.fromkeys(q.gold_answers)),
            "prediction": q.prediction,
            "exact": q.exact,
            "f1": q.f1,
            "na_prob": q.na_prob,
            "confidence": None if confidence is None else confidence.get(q.id),
        }
        for q in sorted(misses, key=sort_key)[:limit]
    ]


def build_report(
    evaluation: SquadEvaluation,
    answer_scores: Mapping[str, float] | None = None,
    sources: Mapping[str, str] | None = None,
    worst: int = WORST_MISSES,
) -> dict[str, Any]:
    """Everything `spanqa evaluate` writes as JSON: the official metrics at the top level, then the analyses.

    `answer_scores` (id -> score of the reader's best answer) adds the calibration section;
    `sources` (e.g. data file, predictions file, model) is copied into the report.
    """
    questions = evaluation.questions
    report: dict[str, Any] = dict(evaluation.metrics)
    report["counts"] = {
        "questions": len(questions),
        "answered": sum(1 for q in questions if q.prediction is not None),
        "missing": evaluation.missing,
        "has_answer": sum(1 for q in questions if q.has_answer),
        "no_answer": sum(1 for q in questions if not q.has_answer),
        "empty_predictions": sum(1 for q in questions if q.prediction == ""),
        "thresholded_to_no_answer": sum(
            1
            for q in questions
            if q.na_prob is not None and q.prediction is not None and q.na_prob > evaluation.na_prob_thresh
        ),
    }
    # What the official scripts leave out silently, listed so a reader of the report can check it.
    report["missing_ids"] = evaluation.missing_ids
    report["ignored_ids"] = {
        "predictions": list(evaluation.ignored_prediction_ids),
        "na_probs": list(evaluation.ignored_na_prob_ids),
    }
    if sources:
        report["sources"] = dict(sources)
    report["by_question_word"] = breakdown(questions, lambda q: question_word(q.question), QUESTION_WORDS)
    report["by_answer_length"] = breakdown(questions, lambda q: answer_length_bucket(q.gold_answers), ANSWER_LENGTHS)
    report["by_context_length"] = breakdown(questions, lambda q: context_length_bucket(q.context), CONTEXT_LENGTHS)
    if answer_scores is not None:
        report["calibration"] = calibration(questions, answer_scores)
        report["expected_calibration_error"] = report["calibration"]["expected_calibration_error"]
        report["calibration_first_reference"] = first_reference_calibration(
            questions, answer_scores, evaluation.version
        )
    confidence = answer_scores
    if confidence is None and evaluation.na_probs is not None:
        confidence = {qid: 1.0 - prob for qid, prob in evaluation.na_probs.items()}
    report["worst_misses"] = worst_misses(questions, worst, confidence)
    return report


def write_report_json(path: str | os.PathLike[str], report: Mapping[str, Any]) -> None:
    """Write the report atomically as indented UTF-8 JSON."""
    write_json_atomic(path, dict(report))
