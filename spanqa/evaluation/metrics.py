"""Official SQuAD scoring: exact match and token F1, v1.1 and v2.0 rules, no-answer thresholds.

The numbers equal those of the official scripts (evaluate-v1.1.py and evaluate-v2.0.py) to the
last printed digit: same normalisation, same arithmetic, sums taken in the same order. Where the
two scripts differ we follow the one of the data file's version (see `detect_version`):

- v1.1: the maximum over the gold answers as written; an empty prediction has F1 0 even against
  a gold answer that normalises to empty (its exact match is 1).
- v2.0: gold answers that normalise to empty are dropped and a question without gold answers has
  the gold [""]; F1 is 1 when prediction and gold are both empty, 0 when only one is; HasAns_* /
  NoAns_* breakdowns; with no-answer probabilities, the threshold rule and the best-threshold
  search of the official script, ties included (they depend on the order of the probabilities).

Two deliberate departures, both where the official scripts crash or cannot apply: a question
without a prediction scores 0 and counts in every total (`missing` says how many; evaluate-v2.0.py
raises KeyError there), and the input is validated with errors that say what is wrong.

Like the official scripts, prediction (and no-answer probability) ids that match no question are
ignored: people score leaderboard files with a few stray ids, and the official number is what they
need. An `IgnoredInputWarning` counts them and shows a few; `strict=True` makes them an error.
"""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from spanqa.data.predictions import check_na_probs, check_predictions, unmatched_ids, unmatched_message
from spanqa.data.squad import question_ids, validate_squad
from spanqa.errors import IgnoredInputWarning, InputError

SquadVersion = Literal["1.1", "2.0"]
ScoreName = Literal["exact", "f1"]

# str.translate deletes the same characters as the official `ch not in set(string.punctuation)`:
# ASCII punctuation only, so curly quotes, dashes and other unicode punctuation stay.
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, drop ASCII punctuation, drop the words a/an/the, collapse white space."""
    without_punctuation = text.lower().translate(_DELETE_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", without_punctuation).split())


def exact_match(prediction: str, gold: str) -> int:
    """1 when both normalise to the same string (both scripts agree on this)."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def _f1_tokens(prediction_tokens: list[str], gold_tokens: list[str], version: SquadVersion) -> float:
    if version == "2.0" and (not prediction_tokens or not gold_tokens):
        # v2.0: an empty answer is the no-answer; F1 is 1 only when both are empty.
        return int(prediction_tokens == gold_tokens)
    prediction_set, gold_set = set(prediction_tokens), set(gold_tokens)
    if len(prediction_set) == len(prediction_tokens) and len(gold_set) == len(gold_tokens):
        num_same = len(prediction_set & gold_set)  # no repeated token: the Counter intersection is the set one
    else:
        num_same = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0
    # The official expression, kept as written so the floats match bit for bit.
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def token_f1(prediction: str, gold: str, version: SquadVersion = "2.0") -> float:
    """Token-level F1 between one prediction and one gold answer, by the rules of `version`."""
    return _f1_tokens(normalize_answer(prediction).split(), normalize_answer(gold).split(), version)


def gold_for_scoring(gold_answers: Iterable[str], version: SquadVersion) -> list[str]:
    """The gold answers the official script of `version` takes the maximum over (normalised)."""
    normalized = [normalize_answer(text) for text in gold_answers]
    if version == "2.0":
        normalized = [text for text in normalized if text] or [""]
    return normalized


def score_answer(prediction: str, gold_answers: Sequence[str], version: SquadVersion = "2.0") -> tuple[int, float]:
    """(exact, f1) of one prediction: the maximum over the gold answers, as the official scripts."""
    gold = gold_for_scoring(gold_answers, version)
    if not gold:
        raise InputError("a SQuAD v1.1 question needs at least one gold answer")
    return _score_normalized(normalize_answer(prediction), tuple(dict.fromkeys(gold)), version)


def _score_normalized(prediction: str, gold: tuple[str, ...], version: SquadVersion) -> tuple[int, float]:
    # Exact match and F1 depend only on the normalised strings, so duplicates were dropped already.
    exact = int(prediction in gold)
    if exact and (prediction or version == "1.1"):
        f1: float = 1.0 if prediction else 0
    else:
        prediction_tokens = prediction.split()
        f1 = max(_f1_tokens(prediction_tokens, text.split(), version) for text in gold)
    return exact, f1


# --------------------------------------------------------------------------- the data file


def detect_version(dataset: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> SquadVersion:
    """Version "2.0" when the file says 2.x, or any question has `is_impossible` or no gold answer.

    Anything else is scored as v1.1 (the official v1.1 script cannot score a question without
    gold answers, so such a file is v2.0 by nature).
    """
    if isinstance(dataset, Mapping):
        if str(dataset.get("version", "")).strip().lstrip("vV").startswith("2"):
            return "2.0"
        articles = dataset["data"]
    else:
        articles = dataset
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if "is_impossible" in qa or not qa.get("answers"):
                    return "2.0"
    return "1.1"


@dataclass(frozen=True)
class _Question:
    id: str
    question: str
    context: str
    gold_answers: tuple[str, ...]


def _as_dataset(dataset: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    if isinstance(dataset, Mapping):
        return validate_squad(dataset, source="dataset")
    if isinstance(dataset, Sequence) and not isinstance(dataset, str | bytes):
        validate_squad({"data": list(dataset)}, source="dataset")
        return {"data": dataset}
    raise InputError(
        f"dataset should be a SQuAD JSON object (with a 'data' list) or its list of articles, "
        f"got {type(dataset).__name__}"
    )


def _iter_questions(dataset: Mapping[str, Any]) -> Iterator[_Question]:
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                gold = tuple(answer["text"] for answer in qa.get("answers", []))
                yield _Question(str(qa["id"]), qa["question"], context, gold)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class QuestionScore:
    """How one question scored. Scores are 0/1 (exact) or in [0, 1] (f1), not percentages."""

    id: str
    question: str
    context: str
    gold_answers: tuple[str, ...]  # as written in the file
    has_answer: bool  # the official rule: the file lists at least one gold answer
    prediction: str | None  # None: no prediction for this question
    raw_exact: float  # before the no-answer threshold
    raw_f1: float
    exact: float  # after the no-answer threshold: what `exact` and `f1` average
    f1: float
    na_prob: float | None = None


@dataclass(frozen=True)
class SquadEvaluation:
    """Every question's score plus the official metrics (`metrics`, the dict `squad_metrics` returns)."""

    version: SquadVersion
    questions: list[QuestionScore]  # in file order
    metrics: dict[str, Any]
    na_probs: dict[str, float] | None = None
    na_prob_thresh: float = 1.0
    ignored_prediction_ids: tuple[str, ...] = ()  # ids of the predictions that match no question
    ignored_na_prob_ids: tuple[str, ...] = ()

    @property
    def missing(self) -> int:
        return self.metrics["missing"]

    @property
    def missing_ids(self) -> list[str]:
        """Questions without a prediction (each scored 0), in file order."""
        return [q.id for q in self.questions if q.prediction is None]


def evaluate_squad(
    dataset: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
    strict: bool = False,
) -> SquadEvaluation:
    """Score `{id: text}` predictions on a SQuAD dataset; see `squad_metrics` for the rules.

    Ids that match no question are ignored with an `IgnoredInputWarning` (an InputError with `strict`).
    """
    data = _as_dataset(dataset)
    version = detect_version(data)
    ids = question_ids(data)
    preds = check_predictions(predictions, ids, strict=strict)
    probs = None
    if na_probs is not None:
        if version == "1.1":
            raise InputError(
                "no-answer probabilities apply to SQuAD v2.0 data only; this file is scored as v1.1 "
                "(no question has 'is_impossible'), so leave them out"
            )
        probs = check_na_probs(na_probs, ids, preds, strict=strict)
    if isinstance(na_prob_thresh, bool) or not isinstance(na_prob_thresh, int | float) or not 0 <= na_prob_thresh <= 1:
        raise InputError(f"na_prob_thresh should be a number between 0 and 1, got {na_prob_thresh!r}")
    ignored_predictions = _drop_unmatched(preds, ids, "predictions")
    ignored_probs = _drop_unmatched(probs, ids, "na_probs") if probs is not None else ()

    questions = _score_questions(data, preds, version, probs, na_prob_thresh)
    metrics = _metrics(questions, version, probs, na_prob_thresh)
    return SquadEvaluation(version, questions, metrics, probs, na_prob_thresh, ignored_predictions, ignored_probs)


def _drop_unmatched(entries: dict[str, Any], ids: set[str], what: str) -> tuple[str, ...]:
    """Remove (in place) the entries whose id is no question; warn about them; their ids."""
    unmatched = unmatched_ids(entries, ids)
    if unmatched:
        for qid in unmatched:
            del entries[qid]
        warnings.warn(
            f"{unmatched_message(what, unmatched)}; they are ignored, as the official SQuAD scripts ignore them",
            IgnoredInputWarning,
            stacklevel=3,
        )
    return tuple(unmatched)


def squad_metrics(
    dataset: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
    strict: bool = False,
) -> dict[str, Any]:
    """The official SQuAD metrics of `{id: text}` predictions, as percentages.

    `dataset` is the SQuAD JSON object (with "data") or its list of articles. The version is
    detected (`detect_version`) and the official script of that version is followed. Keys:
    `exact`, `f1`, `total` (all questions), `missing` (questions without prediction, scored 0),
    `version`; for v2.0 also `HasAns_*` / `NoAns_*` (when the group is not empty) and, given
    `na_probs`, `best_exact`, `best_exact_thresh`, `best_f1`, `best_f1_thresh` and the average
    precisions `pr_exact_ap`, `pr_f1_ap`, `pr_oracle_ap`. A prediction whose no-answer
    probability exceeds `na_prob_thresh` counts as "no answer". Prediction and probability ids that
    match no question are ignored with an `IgnoredInputWarning`, as the official scripts ignore
    them; `strict=True` makes them an InputError.
    """
    return evaluate_squad(dataset, predictions, na_probs, na_prob_thresh, strict).metrics


def _score_questions(
    dataset: Mapping[str, Any],
    predictions: Mapping[str, str],
    version: SquadVersion,
    na_probs: Mapping[str, float] | None,
    na_prob_thresh: float,
) -> list[QuestionScore]:
    normalized_cache: dict[str, str] = {}

    def normalize(text: str) -> str:
        found = normalized_cache.get(text)
        if found is None:
            found = normalized_cache[text] = normalize_answer(text)
        return found

    scores = []
    for question in _iter_questions(dataset):
        has_answer = bool(question.gold_answers)
        prediction = predictions.get(question.id)
        na_prob = None if na_probs is None else na_probs.get(question.id)
        if prediction is None:
            raw_exact: float = 0
            raw_f1: float = 0
            exact, f1 = raw_exact, raw_f1
        else:
            gold = [normalize(text) for text in question.gold_answers]
            if version == "2.0":
                gold = [text for text in gold if text] or [""]
            raw_exact, raw_f1 = _score_normalized(normalize(prediction), tuple(dict.fromkeys(gold)), version)
            exact, f1 = raw_exact, raw_f1
            if na_prob is not None and na_prob > na_prob_thresh:
                # official apply_no_ans_threshold: predicted "no answer"
                exact = f1 = float(not has_answer)
        scores.append(
            QuestionScore(
                question.id,
                question.question,
                question.context,
                question.gold_answers,
                has_answer,
                prediction,
                raw_exact,
                raw_f1,
                exact,
                f1,
                na_prob,
            )
        )
    return scores


def _averages(questions: Sequence[QuestionScore]) -> dict[str, Any]:
    total = len(questions)
    # Plain sums in file order, as the official scripts add them.
    return {
        "exact": 100.0 * sum(q.exact for q in questions) / total,
        "f1": 100.0 * sum(q.f1 for q in questions) / total,
        "total": total,
    }


def _metrics(
    questions: Sequence[QuestionScore],
    version: SquadVersion,
    na_probs: Mapping[str, float] | None,
    na_prob_thresh: float,
) -> dict[str, Any]:
    metrics = _averages(questions)
    if version == "2.0":
        for prefix, wanted in (("HasAns", True), ("NoAns", False)):
            group = [q for q in questions if q.has_answer is wanted]
            if group:
                metrics.update({f"{prefix}_{key}": value for key, value in _averages(group).items()})
        if na_probs is not None:
            for name in ("exact", "f1"):
                best, thresh = find_best_threshold(questions, na_probs, name)
                metrics[f"best_{name}"] = best
                metrics[f"best_{name}_thresh"] = thresh
            if any(q.has_answer for q in questions):
                for name in ("exact", "f1", "oracle"):
                    metrics[f"pr_{name}_ap"] = precision_recall_curve(questions, na_probs, name)[2]
            metrics["na_prob_thresh"] = na_prob_thresh
    missing = sum(1 for q in questions if q.prediction is None)
    metrics["missing"] = missing
    metrics["answered"] = len(questions) - missing
    metrics["version"] = version
    return metrics


def find_best_threshold(
    questions: Sequence[QuestionScore], na_probs: Mapping[str, float], score: ScoreName
) -> tuple[float, float]:
    """(best score in percent, its threshold): the official find_best_thresh, ties included.

    Walks the questions by increasing no-answer probability (a stable sort, so tied
    probabilities keep the order of `na_probs`) and keeps the first running total that beats
    the best so far, even in the middle of a run of tied probabilities, exactly as the official
    script does. Questions without a prediction score 0 at every threshold.
    """
    by_id = {q.id: q for q in questions}
    current: float = sum(1 for q in questions if not q.has_answer and q.prediction is not None)
    best_score = current
    best_thresh: float = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        question = by_id.get(qid)
        if question is None or question.prediction is None:
            continue
        if question.has_answer:
            diff = question.raw_exact if score == "exact" else question.raw_f1
        elif question.prediction:  # the raw text, as official: " " counts as an answer here
            diff = -1
        else:
            diff = 0
        current += diff
        if current > best_score:
            best_score = current
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(questions), best_thresh


def precision_recall_curve(
    questions: Sequence[QuestionScore], na_probs: Mapping[str, float], score: Literal["exact", "f1", "oracle"]
) -> tuple[list[float], list[float], float]:
    """(precisions, recalls, average precision in percent) of answering by increasing no-answer probability.

    The official make_precision_recall_eval: a question answered below the threshold counts
    as a true positive weighted by its raw score (`oracle`: 1 for every answerable question).
    """
    by_id = {q.id: q for q in questions}
    num_true_pos = sum(1 for q in questions if q.has_answer)
    if num_true_pos == 0:
        return [1.0], [0.0], 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    true_pos = 0.0
    precisions, recalls = [1.0], [0.0]
    avg_prec = 0.0
    for i, qid in enumerate(qid_list):
        question = by_id[qid]
        if question.has_answer:
            if score == "oracle":
                true_pos += 1.0
            elif question.prediction is not None:
                true_pos += question.raw_exact if score == "exact" else question.raw_f1
        cur_p = true_pos / float(i + 1)
        cur_r = true_pos / float(num_true_pos)
        if i == len(qid_list) - 1 or na_probs[qid] != na_probs[qid_list[i + 1]]:
            avg_prec += cur_p * (cur_r - recalls[-1])
            precisions.append(cur_p)
            recalls.append(cur_r)
    return precisions, recalls, 100.0 * avg_prec
