"""Questions over documents: real files of every format made here, indexed, searched, read and cited.

Texts are short passages adapted from Wikipedia articles in SQuAD (CC BY-SA 4.0, see
fixtures/ATTRIBUTION.md).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import assert_one_error_line, run_main
from paths import REPO

from spanqa.documents import Index
from spanqa.documents.formats import PAGE_BREAK, read_documents
from spanqa.documents.passages import MAX_PASSAGE_CHARS, split_passages
from spanqa.documents.store import DATABASE_FILE
from spanqa.errors import InputError

SUPER_BOWL = (
    "Super Bowl 50 was an American football game to determine the champion of the National Football League "
    "(NFL) for the 2015 season. The American Football Conference (AFC) champion Denver Broncos defeated the "
    "National Football Conference (NFC) champion Carolina Panthers 24–10 to earn their third Super Bowl title. "
    "The game was played on February 7, 2016, at Levi's Stadium in the San Francisco Bay Area at Santa Clara, "
    "California."
)
AMAZON = (
    "The Amazon rainforest covers most of the Amazon basin of South America. This basin encompasses seven "
    "million square kilometres, of which five and a half million square kilometres are covered by the rainforest."
)
NORMANS = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway."
)
TESLA = "Nikola Tesla was a Serbian American inventor. He was born in 1856 in Smiljan, in the Austrian Empire."
NAV = "Home | News | Sport | Weather | Contact us | Sign in | Subscribe to our newsletter today"


def make_pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def make_docx(path: Path, paragraphs: list[str]) -> Path:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def make_html(path: Path, title: str, paragraphs: list[str]) -> Path:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    path.write_text(
        f"<html><head><title>{title}</title></head><body><nav>{NAV}</nav><header><a href='/'>Logo</a></header>"
        f"<article><h1>{title}</h1>{body}</article><footer>Copyright 2016 Example News. All rights reserved. "
        f"Privacy policy | Terms of use</footer></body></html>",
        encoding="utf-8",
    )
    return path


@pytest.fixture()
def library(tmp_path) -> Path:
    """A folder with one file of each supported format (and a sub-folder)."""
    folder = tmp_path / "library"
    (folder / "sub").mkdir(parents=True)
    make_pdf(folder / "report.pdf", ["Page one is about the weather in spring and the rain.", TESLA, AMAZON])
    make_docx(folder / "normans.docx", ["The Normans", NORMANS])
    make_html(folder / "sub" / "superbowl.html", "Super Bowl 50", [SUPER_BOWL])
    (folder / "notes.txt").write_text("\ufeff" + "Shopping list: milk, bread and eggs.\n", encoding="utf-8")
    (folder / "sub" / "readme.md").write_text("# Notes\n\nParis is the capital of France.\n", encoding="utf-8")
    records = [{"id": "q1", "title": "Oxygen", "text": "Oxygen is a chemical element with symbol O."}]
    (folder / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return folder


# -- formats and passages -----------------------------------------------------------------------


def test_each_format_gives_its_text_and_pdf_pages_stay_apart(library):
    [pdf] = read_documents(library / "report.pdf")
    assert len(pdf.pages) == 3 and "Tesla" in pdf.pages[1] and "Amazon" in pdf.pages[2]
    assert pdf.text.split(PAGE_BREAK) == list(pdf.pages)
    [html] = read_documents(library / "sub" / "superbowl.html")
    assert "Denver Broncos" in html.text and "Subscribe" not in html.text and "Privacy" not in html.text
    [word] = read_documents(library / "normans.docx")
    assert word.text.startswith("The Normans\nThe Normans were")
    [text] = read_documents(library / "notes.txt")
    assert text.text.startswith("Shopping"), "the byte-order mark is not part of the text"
    [record] = read_documents(library / "records.jsonl")
    assert (record.key, record.title) == ("q1", "Oxygen")


def test_passages_end_at_sentences_fit_the_limit_and_cover_the_text():
    text = " ".join([SUPER_BOWL, AMAZON, NORMANS, TESLA] * 3)
    spans = split_passages(text, max_chars=400)
    assert len(spans) > 3
    for span in spans:
        assert span.end - span.start <= 400
        assert text[span.end - 1] in ".!?"  # every passage ends with its sentence
    covered = "".join(text[s.start : s.end] for s in spans).replace(" ", "")
    assert covered == text.replace(" ", "")


def test_a_sentence_longer_than_a_passage_is_cut_at_spaces():
    text = "word " * 1000
    spans = split_passages(text)
    assert all(s.end - s.start <= MAX_PASSAGE_CHARS for s in spans)
    assert all(text[s.start : s.end].split() == ["word"] * len(text[s.start : s.end].split()) for s in spans)


# -- the index -----------------------------------------------------------------------------------


def test_index_reads_every_format_and_search_finds_the_right_file(library, tmp_path):
    index = Index.build([library], tmp_path / "idx")
    report = index.report
    assert report.skipped == [] and len(report.indexed) == 6
    assert report.totals == {"files": 6, "documents": 6, "pages": 8, "passages": 8}
    [best] = index.search("Who did the Denver Broncos defeat in Super Bowl 50?", k=1)
    assert best.document.path.endswith("superbowl.html")
    [tesla] = index.search("Where was Nikola Tesla born?", k=1)
    assert tesla.document.path.endswith("report.pdf") and tesla.page == 2
    document = index.document(tesla.document.id)  # a hit carries its passage's text, not the whole document's
    assert document.page_text(2)[tesla.page_start : tesla.page_start + len(tesla.text)] == tesla.text
    assert document.text[tesla.start : tesla.end] == tesla.text


def test_reindexing_reads_only_changed_files_and_drops_deleted_ones(library, tmp_path):
    Index.build([library], tmp_path / "idx").close()
    (library / "notes.txt").write_text("Shopping list: apples and pears.\n", encoding="utf-8")
    (library / "sub" / "readme.md").unlink()
    # Same bytes, new timestamp: re-stamped, not re-read.
    os.utime(library / "normans.docx", ns=(time.time_ns(), time.time_ns()))
    index = Index.build([library], tmp_path / "idx")
    report = index.report
    assert [Path(p).name for p in report.indexed] == ["notes.txt"]
    assert [Path(p).name for p in report.removed] == ["readme.md"]
    assert report.unchanged == 4
    assert index.search("capital of France", k=5) == [] or all(
        not p.document.path.endswith("readme.md") for p in index.search("capital of France", k=5)
    )
    [notes] = index.search("apples pears", k=1)
    assert "pears" in notes.text


def test_the_same_file_given_twice_or_through_a_symlink_is_one_document(library, tmp_path):
    (tmp_path / "link.txt").symlink_to(library / "notes.txt")
    index = Index.build([library, library / "notes.txt", tmp_path / "link.txt"], tmp_path / "idx")
    assert index.counts()["files"] == 6
    assert sum(d.path.endswith("notes.txt") for d in index.documents()) == 1


def test_broken_and_unsupported_files_are_skipped_with_a_reason_and_the_rest_indexed(library, tmp_path):
    (library / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (library / "scan.pdf").write_bytes(make_pdf(tmp_path / "blank.pdf", ["", ""]).read_bytes())
    (library / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (library / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (library / "empty.md").write_text("  \n", encoding="utf-8")
    (library / "bad.jsonl").write_text('{"id": 1, "text": "fine"}\nnot json\n', encoding="utf-8")
    (library / "broken.docx").write_bytes(b"PK\x03\x04 not a zip")
    index = Index.build([library], tmp_path / "idx")
    reasons = {Path(path).name: reason for path, reason in index.report.skipped}
    assert set(reasons) == {"broken.pdf", "scan.pdf", "photo.png", "latin1.txt", "empty.md", "bad.jsonl", "broken.docx"}
    assert reasons["broken.pdf"].startswith("not a readable PDF")
    assert reasons["scan.pdf"].startswith("image-only PDF")
    assert reasons["photo.png"].startswith("unsupported type .png")
    assert "not UTF-8" in reasons["latin1.txt"]
    assert reasons["empty.md"].startswith("empty")
    assert reasons["bad.jsonl"].startswith("line 2 is not valid JSON")
    assert reasons["broken.docx"].startswith("not a readable .docx")
    assert index.counts()["files"] == 6


def test_an_encrypted_pdf_is_skipped_and_says_it_needs_a_password(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, TESLA)
    pdf.set_encryption(owner_password="owner", user_password="secret")
    (tmp_path / "docs").mkdir()
    pdf.output(str(tmp_path / "docs" / "locked.pdf"))
    index = Index.build([tmp_path / "docs"], tmp_path / "idx")
    [(_path, reason)] = index.report.skipped
    assert reason.startswith("encrypted PDF")


def test_a_file_that_became_unreadable_leaves_the_index(library, tmp_path):
    Index.build([library], tmp_path / "idx").close()
    (library / "notes.txt").write_bytes(b"\xff\xfe broken")
    index = Index.build([library], tmp_path / "idx")
    assert [Path(p).name for p in index.report.removed] == ["notes.txt"]
    assert not any(d.path.endswith("notes.txt") for d in index.documents())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no files"),
    ],
)
def test_missing_paths_and_empty_folders_are_clear_errors(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        Index.build([make(tmp_path)], tmp_path / "idx")


def test_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(InputError, match=r"no index at .*spanqa index PATH\.\.\. --index"):
        Index.open(tmp_path / "nowhere")


def test_an_index_of_another_format_version_is_refused_with_the_rebuild_command(library, tmp_path):
    Index.build([library], tmp_path / "idx").close()
    with sqlite3.connect(tmp_path / "idx" / DATABASE_FILE) as connection:
        connection.execute("UPDATE meta SET value = '999' WHERE key = 'format_version'")
    with pytest.raises(InputError, match=r"format 999.*--rebuild"):
        Index.open(tmp_path / "idx")
    rebuilt = Index.build([library], tmp_path / "idx", rebuild=True)
    assert rebuilt.counts()["files"] == 6


def test_a_rebuild_replaces_the_index_whole_and_keeps_the_old_one_until_it_is_done(library, tmp_path, monkeypatch):
    Index.build([library], tmp_path / "idx").close()
    (library / "notes.txt").unlink()
    import spanqa.documents.index as index_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # the user stops the rebuild halfway

    with monkeypatch.context() as patch:
        patch.setattr(index_module, "read_documents", interrupted)
        with pytest.raises(KeyboardInterrupt):
            Index.build([library], tmp_path / "idx", rebuild=True)
    kept = Index.open(tmp_path / "idx")
    assert kept.counts()["files"] == 6, "the old index is untouched"
    assert [p.name for p in (tmp_path / "idx").iterdir()] == [DATABASE_FILE], "no staging copy is left behind"
    kept.close()
    rebuilt = Index.build([library], tmp_path / "idx", rebuild=True)
    assert rebuilt.counts()["files"] == 5 and rebuilt.report.removed == []


def test_a_file_that_is_not_an_index_is_refused(tmp_path):
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / DATABASE_FILE).write_bytes(b"not a database at all, just text" * 10)
    with pytest.raises(InputError, match="is not a spanqa index"):
        Index.open(tmp_path / "idx")


@pytest.mark.slow
def test_an_index_run_killed_midway_leaves_a_consistent_usable_index(library, tmp_path):
    Index.build([library], tmp_path / "idx").close()
    many = tmp_path / "many"
    many.mkdir()
    for number in range(3000):
        (many / f"doc{number:04d}.txt").write_text(f"Document {number}. {SUPER_BOWL} {AMAZON}\n", encoding="utf-8")
    script = (
        "import sys; from spanqa.documents import Index; "
        f"Index.build([{str(library)!r}, {str(many)!r}], {str(tmp_path / 'idx')!r})"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    database = tmp_path / "idx" / DATABASE_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until some of the new files are committed
        time.sleep(0.2)
        with sqlite3.connect(database, timeout=5) as connection:
            if connection.execute("SELECT COUNT(*) FROM files").fetchone()[0] > 50:
                break
    process.send_signal(signal.SIGKILL)
    process.wait()
    index = Index.open(tmp_path / "idx")
    counts = index.counts()
    assert 56 <= counts["files"] < 3006, "killed midway, with the old files and some new ones committed"
    # Every file is in whole or not at all: one document and passage per new file, report.pdf has 3 pages.
    assert counts["documents"] == counts["files"] == counts["passages"] - 2
    [best] = index.search("Where was Nikola Tesla born?", k=1)
    assert best.document.path.endswith("report.pdf")
    finished = Index.build([library, many], tmp_path / "idx")
    assert finished.counts()["files"] == 3006 and finished.report.unchanged >= counts["files"]


# -- reading and citing --------------------------------------------------------------------------


def test_cited_offsets_hold_in_the_document_and_in_its_page(library, tmp_path, tiny_reader):
    index = Index.build([library], tmp_path / "idx")
    question = "What lies in South America, France, Paris and the Austrian Empire?"
    result = index.ask(question, tiny_reader, top_k=5, passages=4)
    assert len(result.passages) == 4 and result.answers
    assert len({passage.document.id for passage in result.passages}) == 3  # two are pages of report.pdf
    for answer in result.answers:
        if answer.is_no_answer:
            continue
        document = index.document(answer.document_id)
        assert document.text[answer.start : answer.end] == answer.text
        page = answer.page or 1
        assert document.page_text(page)[answer.page_start : answer.page_end] == answer.text
        assert answer.passage in document.text
    scores = [answer.score for answer in result.answers]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1 + 1e-6
    assert 0 <= result.no_answer_probability <= 1


def test_a_question_sharing_no_word_with_the_index_has_no_answer(library, tmp_path, tiny_reader):
    index = Index.build([library], tmp_path / "idx")
    result = index.ask("zyxwv qqqq?", tiny_reader)
    assert result.answers == () and result.no_answer_probability == 1.0


@pytest.mark.quality
def test_the_default_model_answers_from_the_right_file_and_page(library, tmp_path):
    from spanqa import Reader

    reader = Reader.load()
    index = Index.build([library], tmp_path / "idx")
    tesla = index.ask("In what year was Nikola Tesla born?", reader).answers[0]
    assert (tesla.text, Path(tesla.path).name, tesla.page) == ("1856", "report.pdf", 2)
    broncos = index.ask("What team was the AFC champion?", reader).answers[0]
    assert "Denver Broncos" in broncos.text and broncos.path.endswith("superbowl.html") and broncos.page is None


# -- the command line ------------------------------------------------------------------------------


def test_cli_index_prints_a_summary_and_ask_cites_file_and_page(library, tmp_path, monkeypatch, capsys, tiny_model_dir):
    (library / "photo.png").write_bytes(b"\x89PNG")
    code, out, err = run_main(monkeypatch, capsys, "index", str(library), "--index", str(tmp_path / "idx"))
    assert code == 0, err
    assert "7 files: 6 indexed, 0 unchanged, 1 skipped, 0 removed" in out
    assert "photo.png: unsupported type .png" in out
    code, out, err = run_main(
        monkeypatch, capsys, "index", str(library), "--index", str(tmp_path / "idx"), "--json", "--no-progress"
    )
    assert code == 0 and json.loads(out)["unchanged"] == 6
    code, out, err = run_main(
        monkeypatch, capsys, "ask", "-q", "Where was Nikola Tesla born?", "--index", str(tmp_path / "idx"),
        "--model", str(tiny_model_dir), "--json", "--top-k", "2",
    )
    assert code == 0, err
    payload = json.loads(out)
    assert len(payload["answers"]) == 2 and {"path", "page", "start", "end", "passage"} <= set(payload["answers"][0])


def test_cli_ask_docs_answers_without_keeping_an_index(library, monkeypatch, capsys, tiny_model_dir):
    code, out, err = run_main(
        monkeypatch, capsys, "ask", "-q", "Where was Nikola Tesla born?", "--docs", str(library / "report.pdf"),
        "--model", str(tiny_model_dir),
    )
    assert code == 0, err
    assert "report.pdf:2  [" in out and "P(no answer in the 1 passage read)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "{tmp}/nowhere", "--index", "{tmp}/idx"], "does not exist"),
        (["ask", "-q", "Who?", "--index", "{tmp}/nowhere"], "no index at"),
        (["ask", "-q", "Who?", "--index", "{tmp}/idx", "--context", "text"], "not both"),
        (["ask", "-q", "Who?", "--index", "{tmp}/idx", "--docs", "{tmp}"], "not both"),
    ],
)
def test_cli_document_errors_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    code, _out, err = run_main(monkeypatch, capsys, *[a.format(tmp=tmp_path) for a in args])
    assert_one_error_line(code, err, message)
