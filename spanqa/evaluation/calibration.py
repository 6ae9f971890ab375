"""Temperature scaling: make a reader's scores say how often its answers are right.

A score is the probability the reader gives its best answer. After fine-tuning that probability
is usually off in one direction (our first default model was under-confident: answers scored
0.2-0.3 were exactly right 38% of the time). Dividing every logit by one temperature keeps the
order of the spans and moves all the scores together; the temperature that minimises the log
loss of "the best answer is exactly right" on held-out questions is the standard fix (Guo et al.,
"On Calibration of Modern Neural Networks", 2017). Fit it on questions the model was not trained
on and that you will not evaluate on: a slice of your training data held out for it.

Data with unanswerable questions (SQuAD 2.0) also fits the no-answer threshold: the P(no answer)
above which the reader says "no answer", chosen (at the fitted temperature) by the official
best-threshold search for F1 on the same held-out questions. Where refusing an answerable question
costs more than answering an unanswerable one, `min_has_answer_f1` asks for the best F1 among the
thresholds that keep the answerable questions' F1 at or above it.

The model runs once; only the decoding (numpy) is repeated for each candidate temperature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanqa.data.squad import examples_to_squad
from spanqa.errors import InputError
from spanqa.evaluation.metrics import QuestionScore, evaluate_squad, score_answer, squad_metrics
from spanqa.evaluation.report import reliability
from spanqa.inference.decode import WindowLogits, decode_example
from spanqa.inference.pipeline import decode_options, model_logits
from spanqa.inference.reader import Reader
from spanqa.settings import ReaderSettings
from spanqa.types import Example, Query

MIN_QUESTIONS = 100
# A log-spaced grid from 0.25 to 4 (steps of 3.5%): the log loss is smooth in the temperature, and
# a finer optimum changes the scores by less than the noise of a few thousand questions.
TEMPERATURES = tuple(float(t) for t in np.round(np.geomspace(0.25, 4.0, 81), 4))


@dataclass(frozen=True)
class ScoreQuality:
    """How well best-answer scores match exact-match correctness."""

    expected_calibration_error: float
    log_loss: float
    mean_score: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CalibrationFit:
    temperature: float
    questions: int
    exact_rate: float  # share of best answers that are exactly right (at the fitted temperature)
    before: ScoreQuality  # at the reader's current temperature
    after: ScoreQuality

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _quality(scores: Sequence[float], correct: Sequence[int]) -> ScoreQuality:
    probabilities = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
    hits = np.asarray(correct, dtype=np.float64)
    log_loss = -float(np.mean(hits * np.log(probabilities) + (1 - hits) * np.log(1 - probabilities)))
    _, ece = reliability(scores, correct)
    return ScoreQuality(expected_calibration_error=ece, log_loss=log_loss, mean_score=float(np.mean(scores)))


@dataclass(frozen=True)
class ThresholdFit:
    """The no-answer threshold that maximises F1 on held-out questions, and the scores there."""

    null_threshold: float
    min_has_answer_f1: float | None  # the floor the search kept HasAns F1 at (percent), if one was asked
    questions: int
    unanswerable: int
    f1: float  # all questions, at the threshold (official v2.0 metric, percent)
    has_answer_f1: float
    no_answer_f1: float  # the share of unanswerable questions answered "no answer"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Calibration:
    temperature: CalibrationFit
    threshold: ThresholdFit | None  # None: the data has no unanswerable question

    def to_dict(self) -> dict[str, object]:
        fitted = self.temperature.to_dict()
        return {**fitted, "null_threshold": self.threshold.to_dict() if self.threshold else None}


def is_answerable(example: Example) -> bool:
    return bool(example.answers) and not example.is_impossible


def answerable_only(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if is_answerable(e)]


def fit_temperature(
    reader: Reader, examples: Sequence[Example], batch_size: int = 32, progress: bool = False
) -> CalibrationFit:
    """The temperature, from TEMPERATURES, that best calibrates `reader` on the answerable `examples`."""
    return calibrate(reader, answerable_only(examples), batch_size, progress).temperature


def calibrate(
    reader: Reader,
    examples: Sequence[Example],
    batch_size: int = 32,
    progress: bool = False,
    min_has_answer_f1: float | None = None,
) -> Calibration:
    """The temperature (answerable questions) and, when there are unanswerable ones, the no-answer threshold.

    `min_has_answer_f1` (percent): the threshold is the best for F1 among those that keep the
    answerable questions' F1 at least this high (see `fit_null_threshold_on_logits`).
    """
    if min_has_answer_f1 is not None and not 0.0 <= min_has_answer_f1 <= 100.0:
        raise InputError(f"the answerable questions' F1 floor is a percentage in [0, 100], got {min_has_answer_f1!r}")
    answerable = answerable_only(examples)
    if len(answerable) < MIN_QUESTIONS:
        raise InputError(
            f"calibration needs at least {MIN_QUESTIONS} answerable questions, got {len(answerable)}: "
            "give it a bigger held-out file"
        )
    unanswerable = [e for e in examples if not is_answerable(e)]
    if min_has_answer_f1 is not None and not unanswerable:
        raise InputError(
            "a floor on the answerable questions' F1 applies to the no-answer threshold, which needs "
            "unanswerable questions (SQuAD 2.0) in the held-out data: add some, or leave the floor out"
        )
    if unanswerable and len(unanswerable) < MIN_QUESTIONS:
        raise InputError(
            f"fitting the no-answer threshold needs at least {MIN_QUESTIONS} unanswerable questions, got "
            f"{len(unanswerable)}: give it a bigger held-out file, or only answerable questions"
        )
    settings = reader.settings.replace(top_k=1, handle_impossible_answer=False)
    chosen = answerable + unanswerable
    queries = [Query.from_example(e) for e in chosen]
    logits = model_logits(reader.runtime, reader.tokenizer, queries, settings, batch_size, progress)
    golds = [[a.text for a in e.answers] for e in answerable]
    temperature = fit_temperature_on_logits(queries[: len(answerable)], logits[: len(answerable)], golds, settings)
    if not unanswerable:
        return Calibration(temperature, None)
    at_temperature = settings.replace(temperature=temperature.temperature)
    threshold = fit_null_threshold_on_logits(chosen, queries, logits, at_temperature, min_has_answer_f1)
    return Calibration(temperature, threshold)


def fit_null_threshold_on_logits(
    examples: Sequence[Example],
    queries: Sequence[Query],
    logits: Sequence[Sequence[WindowLogits]],
    settings: ReaderSettings,
    min_has_answer_f1: float | None = None,
) -> ThresholdFit:
    """The official best F1 threshold on P(no answer), as the reader computes it at `settings.temperature`.

    With `min_has_answer_f1`, the best F1 among the thresholds whose HasAns F1 is at least that
    (a higher threshold refuses fewer questions, so HasAns F1 only grows with it); when no
    threshold reaches the floor, the one that answers every question.
    """
    options = dataclasses.replace(decode_options(settings), top_k=1, handle_impossible_answer=False)
    predictions, no_answer = {}, {}
    for example, query, windows in zip(examples, queries, logits, strict=True):
        decoded = decode_example(windows, query.contexts, options)
        predictions[example.id] = decoded.answers[0].text if decoded.answers else ""
        no_answer[example.id] = decoded.no_answer_probability
    dataset = examples_to_squad(examples, version="2.0")
    evaluation = evaluate_squad(dataset, predictions, no_answer)
    threshold = float(evaluation.metrics["best_f1_thresh"])
    if min_has_answer_f1 is not None:
        threshold = best_threshold_keeping_has_answer_f1(evaluation.questions, no_answer, min_has_answer_f1)
    at = squad_metrics(dataset, predictions, no_answer, na_prob_thresh=threshold)
    return ThresholdFit(
        null_threshold=threshold,
        min_has_answer_f1=min_has_answer_f1,
        questions=len(examples),
        unanswerable=sum(1 for e in examples if not is_answerable(e)),
        f1=float(at["f1"]),
        has_answer_f1=float(at.get("HasAns_f1", 0.0)),
        no_answer_f1=float(at.get("NoAns_f1", 0.0)),
    )


def best_threshold_keeping_has_answer_f1(
    questions: Sequence[QuestionScore], na_probs: dict[str, float], min_has_answer_f1: float
) -> float:
    """The threshold of best F1 among those that keep HasAns F1 >= `min_has_answer_f1` (percent).

    A question counts as "no answer" when its P(no answer) is above the threshold, so the
    candidates are the probabilities themselves (and 1.0: answer everything). Scores are as the
    official metric counts them: an answerable question earns its raw F1 when answered, an
    unanswerable one 1 when refused (or when the reader's text is empty).
    """
    candidates = np.unique(np.append(np.fromiter(na_probs.values(), dtype=np.float64), 1.0))
    probability = np.array([na_probs.get(q.id, 1.0) for q in questions])
    order = np.argsort(probability, kind="stable")
    has_answer = np.array([q.has_answer for q in questions])[order]
    earned_answered = np.array([q.raw_f1 if q.has_answer else float(not q.prediction) for q in questions])[order]
    earned_refused = (~has_answer).astype(np.float64)
    # At a candidate threshold the first `answered` questions (by P(no answer)) are answered, the rest refused.
    answered = np.searchsorted(probability[order], candidates, side="right")

    def earned(mask: np.ndarray) -> np.ndarray:
        when_answered = np.concatenate([[0.0], np.cumsum(earned_answered * mask)])
        when_refused = np.concatenate([[0.0], np.cumsum(earned_refused * mask)])
        return when_answered[answered] + when_refused[-1] - when_refused[answered]

    has_answer_f1 = 100.0 * earned(has_answer) / max(1, int(has_answer.sum()))
    f1 = 100.0 * earned(np.ones_like(has_answer)) / len(questions)
    allowed = has_answer_f1 >= min_has_answer_f1
    if not allowed.any():
        return 1.0
    return float(candidates[int(np.argmax(np.where(allowed, f1, -1.0)))])


def fit_temperature_on_logits(
    queries: Sequence[Query],
    logits: Sequence[Sequence[WindowLogits]],
    golds: Sequence[Sequence[str]],
    settings: ReaderSettings,
) -> CalibrationFit:
    """The fit from the model's logits of each query (`pipeline.model_logits`) and its gold answer texts."""

    def outcomes(temperature: float) -> tuple[list[float], list[int]]:
        options = dataclasses.replace(decode_options(settings), temperature=temperature)
        scores, correct = [], []
        for query, windows, gold in zip(queries, logits, golds, strict=True):
            answers = decode_example(windows, query.contexts, options).answers
            scores.append(answers[0].score if answers else 0.0)
            correct.append(score_answer(answers[0].text, gold, "1.1")[0] if answers else 0)
        return scores, correct

    fits = []
    for temperature in TEMPERATURES:
        scores, correct = outcomes(temperature)
        fits.append((_quality(scores, correct).log_loss, temperature, scores, correct))
    _, best, scores, correct = min(fits, key=lambda fit: fit[:2])
    return CalibrationFit(
        temperature=best,
        questions=len(queries),
        exact_rate=float(np.mean(correct)),
        before=_quality(*outcomes(settings.temperature)),
        after=_quality(scores, correct),
    )
