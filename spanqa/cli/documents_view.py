"""How `spanqa ask --index/--docs` prints cited answers: file:page, score, the sentence, highlighted."""

from __future__ import annotations

import re

from spanqa.documents import DocumentAnswers

# The sentence around an answer: from the last sentence end before it to the next one after it.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+|\n")
SENTENCE_LIMIT = 300


def _sentence_bounds(passage: str, start: int, end: int) -> tuple[int, int]:
    begin = 0
    for match in _SENTENCE_END.finditer(passage, 0, start):
        begin = match.end()
    after = _SENTENCE_END.search(passage, end)
    finish = after.start() + 1 if after else len(passage)
    return max(begin, start - SENTENCE_LIMIT), min(finish, end + SENTENCE_LIMIT)


def print_document_answers(result: DocumentAnswers) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not result.passages:
        console.print("no passage in the index shares a word with the question: no answer")
        return
    for rank, answer in enumerate(result.answers, start=1):
        if answer.is_no_answer:
            console.print(f"{rank}. (no answer in these documents)  score {answer.score:.3f}")
            continue
        console.print(Text.assemble(f"{rank}. ", (answer.text, "bold"), f"  score {answer.score:.3f}  "))
        console.print(f"   {answer.location}  [{answer.start}:{answer.end}]")
        start, end = answer.start - answer.passage_start, answer.end - answer.passage_start
        begin, finish = _sentence_bounds(answer.passage, start, end)
        line = Text("   ")
        line.append(answer.passage[begin:start].replace("\n", " "))
        line.append(answer.passage[start:end].replace("\n", " "), style="bold black on yellow")
        line.append(answer.passage[end:finish].replace("\n", " "))
        console.print(line)
    console.print(
        f"P(no answer in the {len(result.passages)} passages read) = {result.no_answer_probability:.3f}"
    )
