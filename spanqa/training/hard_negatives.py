"""Hard unanswerable questions, written from answerable ones, for data that has none.

SQuAD 2.0's annotators wrote questions about a paragraph that look answerable but are not
(Rajpurkar et al., 2018, table 3). A reader trained only on answerable questions learns to
point at something plausible every time; these rewrite an answerable question, about the
same paragraph, in the same ways:

- negation: "not" inserted after the question's first auxiliary, or removed where there is one;
- entity swap: a name in the question that the paragraph mentions, replaced by another name of
  the same shape (as many capitalised words) from another paragraph of the same article;
- antonym: a word replaced by its antonym (a small built-in list of common pairs);
- number or date: a number or year in the question replaced by another one;
- impossible condition: a year condition ("in 1871") added that the paragraph never mentions.

Every swap brings in something the paragraph does not contain, so the rewritten question
asks about what the paragraph does not say. Names are judged by their surface form, not by
a named-entity model: no such model ships offline with our dependencies. The rules are
English; for other languages use genuine unanswerable questions.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from spanqa.data.squad import article_contexts
from spanqa.types import Example

# The auxiliaries that take "n't"; "did Beyonce release" becomes "didn't Beyonce release".
NEGATED = {
    "is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "do": "don't", "does": "doesn't",
    "did": "didn't", "can": "can't", "could": "couldn't", "will": "won't", "would": "wouldn't",
    "should": "shouldn't", "has": "hasn't", "have": "haven't", "had": "hadn't", "must": "mustn't",
}  # fmt: skip
AUXILIARY_WITHIN = 4  # the main clause's auxiliary comes early: "In what year did ..."
NEGATION = re.compile(r"\b(?:(?P<word>\w+)n't|(?P<not> not)(?=\b)|(?P<never> never)(?=\b))", re.IGNORECASE)
CONTRACTED = {"ca": "can", "wo": "will", "sha": "shall"}  # can't, won't, shan't; the rest drop "n't"
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\b")
# A capitalised name: one or more capitalised words, with "of"/"the"/"de"... allowed inside.
NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:(?:of|the|de|van|von|for|du|la)\s+)*[A-Z][\w'-]*)*")
QUESTION_WORDS = {"What", "Which", "Who", "Whom", "Whose", "When", "Where", "Why", "How", "In", "On", "At", "The"}
# Capitalised, but dates rather than names: swapping them is the number rule's job.
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NOT_NAMES = {*MONTHS, "November", "December", *WEEKDAYS}
NOT_SWAPPED = QUESTION_WORDS | NOT_NAMES  # capitalised words of a question that are no name to swap

ANTONYM_PAIRS = """
first last; largest smallest; biggest smallest; highest lowest; longest shortest; oldest youngest;
earliest latest; most least; more less; before after; increase decrease; increased decreased;
rise fall; rose fell; north south; east west; northern southern; eastern western; major minor;
maximum minimum; upper lower; inside outside; internal external; public private; positive negative;
success failure; successful unsuccessful; win lose; won lost; victory defeat; accept reject;
accepted rejected; allow forbid; allowed forbidden; legal illegal; ancient modern; early late;
begin end; began ended; beginning end; start finish; started finished; open closed; opened closed;
strong weak; strongest weakest; rich poor; richest poorest; high low; large small; long short;
wide narrow; heavy light; hot cold; warm cool; wet dry; male female; men women; man woman;
king queen; father mother; son daughter; brother sister; husband wife; boy girl; young old;
new old; cheap expensive; common rare; simple complex; natural artificial; domestic foreign;
import export; imported exported; buy sell; bought sold; attack defend; attacked defended;
entered left; arrive depart; arrived departed; born died; birth death; above below; over under;
top bottom; front back; left right; true false; possible impossible; include exclude;
included excluded; support oppose; supported opposed; agree disagree; agreed disagreed;
always never; all none; lowest highest; fastest slowest; best worst; better worse; good bad;
dark light; day night; summer winter; spring autumn; military civilian; urban rural;
""".strip()


def antonyms() -> dict[str, str]:
    pairs = [entry.split() for entry in ANTONYM_PAIRS.replace("\n", " ").split(";") if entry.strip()]
    table: dict[str, str] = {}
    for word, opposite in pairs:
        table.setdefault(word, opposite)
        table.setdefault(opposite, word)
    return table


ANTONYMS = antonyms()


NameShape = tuple[int, bool]


@dataclass(frozen=True)
class ArticleFacts:
    """What the paragraphs of an article offer to swap in: their names (with their shape) and years."""

    names: tuple[tuple[str, NameShape], ...]
    years: tuple[str, ...]

    @classmethod
    def of(cls, contexts: Sequence[str]) -> ArticleFacts:
        names: dict[tuple[str, NameShape], None] = {}
        years: dict[str, None] = {}
        for context in contexts:
            for match in NAME.finditer(context):
                # a capitalised word that starts a sentence is no evidence of a name
                if not starts_sentence(context, match.start()) and match.group() not in NOT_NAMES:
                    names[(match.group(), name_shape(context, match))] = None
            years.update((year, None) for year in YEAR.findall(context))
        return cls(tuple(names), tuple(years))


Rewrite = Callable[[str, str, ArticleFacts, random.Random], "str | None"]


def name_shape(text: str, match: re.Match) -> NameShape:
    """What stands in for a name's kind: its number of words, and whether "the" comes before it
    ("the Normans", "the Battle of Hastings" against "France", "Rollo")."""
    return len(match.group().split()), text[: match.start()].rstrip().lower().endswith(" the")


def starts_sentence(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    return not before or before[-1] in ".!?\"'"


def contains(context: str, text: str) -> bool:
    """Whole-word, case-insensitive: the paragraph mentions `text`."""
    return re.search(rf"(?<!\w){re.escape(text)}(?!\w)", context, re.IGNORECASE) is not None


def negate(question: str, context: str, facts: ArticleFacts, rng: random.Random) -> str | None:
    """Remove the question's negation, or negate its first auxiliary ("did" -> "didn't")."""
    found = NEGATION.search(question)
    if found:
        word = found.group("word")
        if word:
            base = CONTRACTED.get(word.lower(), word)
            base = base.capitalize() if word[0].isupper() else base
            return question[: found.start()] + base + question[found.end() :]
        return question[: found.start()] + question[found.end() :]
    words = question.split(" ")
    for index, word in enumerate(words[1 : AUXILIARY_WITHIN + 1], start=1):
        if word.lower() in NEGATED and index < len(words) - 1:
            return " ".join([*words[:index], NEGATED[word.lower()], *words[index + 1 :]])
    return None


def swap_entity(question: str, context: str, facts: ArticleFacts, rng: random.Random) -> str | None:
    """A name the paragraph mentions, replaced by another of the article's names of the same shape."""
    names = [m for m in NAME.finditer(question) if m.start() > 0 and m.group() not in NOT_SWAPPED]
    names = [m for m in names if contains(context, m.group())]
    if not names:
        return None
    chosen = rng.choice(names)
    shape = name_shape(question, chosen)
    candidates = [
        name
        for name, its_shape in facts.names
        if its_shape == shape and not contains(context, name) and not contains(question, name)
    ]
    if not candidates:
        return None
    return question[: chosen.start()] + rng.choice(candidates) + question[chosen.end() :]


def swap_antonym(question: str, context: str, facts: ArticleFacts, rng: random.Random) -> str | None:
    """A word replaced by its antonym, where the paragraph never uses the antonym (never inside a name)."""
    words = [m for m in WORD.finditer(question) if m.group().lower() in ANTONYMS]
    words = [m for m in words if m.start() == 0 or m.group().islower()]
    words = [m for m in words if not contains(context, ANTONYMS[m.group().lower()])]
    if not words:
        return None
    chosen = rng.choice(words)
    opposite = ANTONYMS[chosen.group().lower()]
    if chosen.group()[0].isupper():
        opposite = opposite.capitalize()
    return question[: chosen.start()] + opposite + question[chosen.end() :]


def change_number(question: str, context: str, facts: ArticleFacts, rng: random.Random) -> str | None:
    """A year or number in the question replaced by one the paragraph does not mention."""
    numbers = list(NUMBER.finditer(question))
    if not numbers:
        return None
    chosen = rng.choice(numbers)
    text = chosen.group()
    if YEAR.fullmatch(text):
        years = [y for y in facts.years if y != text and not contains(context, y)]
        replacement = rng.choice(years) if years else str(int(text) + rng.choice([-1, 1]) * rng.randint(2, 30))
    elif text.isdigit():
        value = int(text)
        replacement = str(value + rng.choice([-1, 1]) * max(1, rng.randint(1, max(1, value // 2))))
    else:
        return None
    if replacement == text or contains(context, replacement) or int(replacement) < 0:
        return None
    return question[: chosen.start()] + replacement + question[chosen.end() :]


def add_condition(question: str, context: str, facts: ArticleFacts, rng: random.Random) -> str | None:
    """'... in YEAR?' with a year of the article that the paragraph never mentions."""
    if NUMBER.search(question) or not question.rstrip().endswith("?"):
        return None
    years = [y for y in facts.years if not contains(context, y)]
    if not years:
        return None
    return question.rstrip()[:-1].rstrip() + f" in {rng.choice(years)}?"


REWRITES: dict[str, Rewrite] = {
    "negation": negate,
    "entity": swap_entity,
    "antonym": swap_antonym,
    "number": change_number,
    "condition": add_condition,
}


def rewrite_unanswerable(example: Example, facts: ArticleFacts, rng: random.Random) -> tuple[str, Example] | None:
    """One hard unanswerable question about the example's paragraph: (its kind, the example), or None."""
    kinds = list(REWRITES)
    rng.shuffle(kinds)
    for kind in kinds:
        question = REWRITES[kind](example.question, example.context, facts, rng)
        if question and question.strip() != example.question.strip():
            return kind, Example(
                id=f"{example.id}-hard-{kind}",
                question=question,
                context=example.context,
                is_impossible=True,
                title=example.title,
            )
    return None


def hard_negatives(
    examples: Sequence[Example], rate: float, rng: random.Random
) -> tuple[list[Example], dict[str, int]]:
    """About `rate` hard unanswerable questions per answerable one; and how many of each kind.

    A rate of 0.5 rewrites about every other answerable question once; above 1, some are
    rewritten several times (by different kinds where possible).
    """
    by_title = article_contexts(examples)
    facts: dict[str, ArticleFacts] = {}
    made: list[Example] = []
    counts = dict.fromkeys(REWRITES, 0)
    for example in examples:
        if example.is_impossible or not example.answers:
            continue
        wanted = int(rate) + (1 if rng.random() < rate - int(rate) else 0)
        if wanted == 0:
            continue
        if example.title not in facts:
            facts[example.title] = ArticleFacts.of(by_title[example.title])
        written: set[str] = set()
        for _ in range(wanted):
            result = rewrite_unanswerable(example, facts[example.title], rng)
            if result is None or result[1].question in written:
                continue
            kind, negative = result
            written.add(negative.question)
            made.append(dataclasses.replace(negative, id=f"{negative.id}{len(written)}"))
            counts[kind] += 1
    return made, counts
