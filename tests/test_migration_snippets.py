"""The migration guide's "after" snippets (README, "Migrating from transformers, Haystack and simpletransformers"), run.

Every ```python block of that section whose first line starts with `# after` is taken out of the
README and run as written, in-process: the blocks of one subsection in order, in one scratch folder
(the simpletransformers predict block uses the model its train block wrote). A subsection with a
block marked `slow` on its first line (training) is a slow test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from paths import REPO

SECTION = "## Migrating from transformers, Haystack and simpletransformers"
BLOCK = re.compile(r"^```python\n(# after[^\n]*\n.*?)^```$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Snippet:
    subsection: str
    first_line: str
    code: str


def section_text() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start : end if end != -1 else len(readme)]


def after_snippets() -> list[Snippet]:
    text = section_text()
    snippets = []
    for match in BLOCK.finditer(text):
        headings = re.findall(r"^### (.+)$", text[: match.start()], re.MULTILINE)
        code = match.group(1)
        snippets.append(Snippet(headings[-1] if headings else "", code.splitlines()[0], code))
    return snippets


def subsections() -> dict[str, list[Snippet]]:
    grouped: dict[str, list[Snippet]] = {}
    for snippet in after_snippets():
        grouped.setdefault(snippet.subsection, []).append(snippet)
    return grouped


def run(snippet: Snippet) -> dict:
    namespace: dict = {"__name__": "__main__"}
    exec(compile(snippet.code, f"README.md, {snippet.subsection}: {snippet.first_line}", "exec"), namespace)
    return namespace


def test_the_section_has_the_snippets_it_promises():
    grouped = subsections()
    assert any("transformers" in name and "pipeline" in name for name in grouped)
    assert any("simpletransformers" in name for name in grouped)
    assert len(grouped[next(name for name in grouped if "simpletransformers" in name)]) == 2  # train, predict
    assert any("Haystack" in name for name in grouped)


def expect(subsection: str, namespaces: list[dict], folder) -> None:
    """What the snippets of a subsection should have produced, beyond running without an error."""
    if "pipeline" in subsection:
        [names] = namespaces
        assert names["result"]["answer"] == "Denver Broncos"
        assert names["context"][names["result"]["start"] : names["result"]["end"]] == "Denver Broncos"
        assert (names["result"]["start"], names["result"]["end"]) == (48, 62)  # as the snippet's comment says
        assert isinstance(names["results"], list) and len(names["results"]) == 2
    elif "simpletransformers" in subsection:
        trained, predicted = namespaces
        assert trained["summary"]["step"] == 2 and (folder / "my-reader" / "config.json").is_file()
        answers = predicted["answers"]
        assert [a["id"] for a in answers] == ["0", "1"] and answers[0]["answer"][0] == "Ada Lovelace"
        assert all(0 <= p <= 1 for p in predicted["probabilities"][0]["probability"])
    elif "Haystack" in subsection:
        [names] = namespaces
        best = names["best"]
        assert (best.data, best.meta["answer_page_number"]) == ("13", 2)
        assert [a.data for a in names["answers"]][-1] is None  # the no-answer comes last here


def subsection_params():
    for name, snippets in subsections().items():
        slow = any("slow" in snippet.first_line for snippet in snippets)
        yield pytest.param(name, marks=[pytest.mark.slow] if slow else [], id=name.split("'")[0].strip() or name)


@pytest.mark.parametrize("subsection", list(subsection_params()))
def test_after_snippets_run(subsection, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Haystack's Pipeline.run sends usage telemetry over the network unless told not to.
    monkeypatch.setenv("HAYSTACK_TELEMETRY_ENABLED", "False")
    namespaces = [run(snippet) for snippet in subsections()[subsection]]
    expect(subsection, namespaces, tmp_path)
