"""Plain values passed between the stages of the reader."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GoldAnswer:
    text: str
    start: int  # character offset of the answer in the context


@dataclass(frozen=True)
class Example:
    """One question about one context, as in a SQuAD file.

    `answers` is empty for unanswerable questions (SQuAD 2.0 `is_impossible`)
    and for questions whose answer is unknown (prediction time).
    """

    id: str
    question: str
    context: str
    answers: tuple[GoldAnswer, ...] = ()
    is_impossible: bool = False
    title: str = ""


@dataclass(frozen=True)
class Query:
    """One question asked of one or more contexts (the contexts are ranked together)."""

    id: str
    question: str
    contexts: tuple[str, ...]

    @classmethod
    def from_example(cls, example: Example) -> Query:
        """The Example's question asked of its one context, under its id."""
        return cls(id=example.id, question=example.question, contexts=(example.context,))


@dataclass(frozen=True)
class Answer:
    """An answer span. `context[start:end] == text`; the no-answer is ("", 0, 0).

    `score` is the probability the reader gives this span among every span it
    could have chosen in all windows of the context(s) (see README, "Scores").
    """

    text: str
    start: int
    end: int
    score: float
    context_index: int = 0
    window_index: int = field(default=0, compare=False)

    @property
    def is_no_answer(self) -> bool:
        return self.text == "" and self.start == self.end == 0

    def to_dict(self) -> dict[str, object]:
        """The dict shape of the old transformers question-answering pipeline."""
        return {"answer": self.text, "score": self.score, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Prediction:
    """The reader's output for one question: its answers, best first."""

    example_id: str
    answers: tuple[Answer, ...]
    no_answer_probability: float

    @property
    def best_text(self) -> str:
        """What a SQuAD predictions file holds for this question ("" for no answer)."""
        return self.answers[0].text if self.answers else ""
