"""Hard unanswerable questions written from answerable ones (spanqa train --hard-negatives), on hand-made examples."""

from __future__ import annotations

import random

import pytest

from spanqa.training.data import select_training_examples
from spanqa.training.hard_negatives import (
    ArticleFacts,
    add_condition,
    change_number,
    contains,
    hard_negatives,
    negate,
    swap_antonym,
    swap_entity,
)
from spanqa.types import Example, GoldAnswer

NORMANS = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. They were descended from Norse raiders from Denmark, Iceland and Norway who, under their leader "
    "Rollo, agreed to swear fealty to King Charles III of West Francia in 911."
)
CONQUEST = (
    "In 1066, William the Conqueror invaded England. The Battle of Hastings was won by Duke William. "
    "Harold Godwinson died in the battle. Later Robert Guiscard conquered Sicily in 1091."
)
FACTS = ArticleFacts.of([NORMANS, CONQUEST])


def rewritten(rule, question: str, seed: int = 0) -> str | None:
    return rule(question, NORMANS, FACTS, random.Random(seed))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("In what country is Normandy located?", "In what country isn't Normandy located?"),
        ("In what year did Rollo swear fealty?", "In what year didn't Rollo swear fealty?"),
        ("Who could not swear fealty?", "Who could swear fealty?"),
        ("Who didn't agree to swear fealty?", "Who did agree to swear fealty?"),
        ("Who can't be named?", "Who can be named?"),
    ],
)
def test_negation_is_inserted_at_the_first_auxiliary_or_removed(question, expected):
    assert rewritten(negate, question) == expected


def test_a_question_without_an_early_auxiliary_is_not_negated():
    assert rewritten(negate, "Normandy gets its name from which people?") is None


def test_an_entity_is_swapped_for_a_name_of_the_same_shape_that_the_paragraph_lacks():
    for seed in range(20):
        question = rewritten(swap_entity, "In what country is Normandy located?", seed)
        swapped = question.removeprefix("In what country is ").removesuffix(" located?")
        assert swapped in {"England", "Sicily"}  # one-word names of the article that the paragraph never mentions
        assert not contains(NORMANS, swapped)


def test_no_entity_swap_when_the_article_offers_no_other_name_of_that_shape():
    facts = ArticleFacts.of([NORMANS])  # every name is in the paragraph itself
    assert swap_entity("In what country is Normandy located?", NORMANS, facts, random.Random(0)) is None


def test_antonyms_replace_a_word_only_where_the_paragraph_never_uses_the_antonym():
    assert rewritten(swap_antonym, "Which was the first region the Normans named?") == (
        "Which was the last region the Normans named?"
    )
    context = "It was the first and the last region."
    assert swap_antonym("Which was the first region?", context, FACTS, random.Random(0)) is None


def test_antonyms_leave_names_alone():
    assert rewritten(swap_antonym, "What did New Netherland found?") is None


def test_a_year_is_changed_to_one_the_paragraph_does_not_mention():
    question = rewritten(change_number, "Who did Rollo swear fealty to in 911?")
    number = question.removeprefix("Who did Rollo swear fealty to in ").removesuffix("?")
    assert number.isdigit() and number != "911" and not contains(NORMANS, number)
    years = {rewritten(change_number, "What happened to Normandy in 1066?", seed) for seed in range(10)}
    assert years <= {"What happened to Normandy in 1091?"}  # the article's other year, when the paragraph lacks it


def test_an_impossible_condition_names_a_year_of_the_article_the_paragraph_never_mentions():
    assert rewritten(add_condition, "Who was the Norse leader?") in {
        "Who was the Norse leader in 1066?",
        "Who was the Norse leader in 1091?",
    }
    assert rewritten(add_condition, "Who did Rollo swear fealty to in 911?") is None  # already has a number


def example(qid: str, question: str, context: str = NORMANS, answer: str = "Rollo") -> Example:
    return Example(
        id=qid,
        question=question,
        context=context,
        answers=(GoldAnswer(answer, context.index(answer)),),
        title="Normans",
    )


QUESTIONS = [
    example("q1", "Who was the Norse leader?"),
    example("q2", "In what country is Normandy located?", answer="France"),
    example("q3", "When did Rollo swear fealty?", answer="911"),
    example("q4", "Who invaded England in 1066?", CONQUEST, "William the Conqueror"),
]


def test_hard_negatives_are_unanswerable_questions_about_the_same_paragraph():
    made, counts = hard_negatives(QUESTIONS, 1.0, random.Random(0))
    assert len(made) == sum(counts.values()) == len(QUESTIONS)  # every one of these can be rewritten
    originals = {e.id: e for e in QUESTIONS}
    for negative in made:
        original = originals[negative.id.split("-hard-")[0]]
        assert negative.is_impossible and not negative.answers
        assert negative.context == original.context and negative.title == original.title
        assert negative.question != original.question


def test_the_rate_sets_how_many_and_the_seed_which():
    many = QUESTIONS * 50
    many = [Example(**{**e.__dict__, "id": f"{e.id}-{n}"}) for n, e in enumerate(many)]
    half, _ = hard_negatives(many, 0.5, random.Random(0))
    assert 70 <= len(half) <= 130
    again, _ = hard_negatives(many, 0.5, random.Random(0))
    assert [e.question for e in again] == [e.question for e in half]
    twice, counts = hard_negatives(many[:4], 2.0, random.Random(0))
    assert len({(e.id.split("-hard-")[0], e.question) for e in twice}) == len(twice) > 4
    assert sum(1 for n in counts.values() if n) >= 2  # several kinds


def test_training_selection_adds_hard_negatives_as_unanswerable():
    kept, spans, summary = select_training_examples(QUESTIONS, hard_negatives=1.0, seed=0)
    assert sum(summary.hard_negatives.values()) == len(kept) - len(QUESTIONS) == 4
    assert spans[len(QUESTIONS) :] == [None] * 4
    assert "hard unanswerable questions written: 4" in "\n".join(summary.lines())


def test_exclude_leaves_held_out_questions_and_their_negatives_out():
    held_out = [QUESTIONS[0], Example(id="other-id", question=QUESTIONS[1].question, context=NORMANS)]
    kept, _, summary = select_training_examples(QUESTIONS, negatives=1.0, hard_negatives=1.0, exclude=held_out)
    assert summary.excluded == 2
    assert {e.id.split("-")[0] for e in kept} == {"q3", "q4"}
