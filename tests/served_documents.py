"""A small library of real files (a 3-page PDF made with fpdf2, two .txt files) and its index, for the server's tests.

A plain module, so test_serve_documents, test_serve_browser and test_serve_fuzz share one picture.
The texts are test_documents' (adapted from Wikipedia articles in SQuAD, CC BY-SA 4.0).
"""

from __future__ import annotations

from pathlib import Path

from test_documents import AMAZON, NORMANS, SUPER_BOWL, TESLA, make_pdf

from spanqa.documents import Index

PDF_PAGES = ["Page one is about the weather in spring and the rain.", TESLA, AMAZON]


def build_library_index(folder: Path) -> Path:
    """Write the files under `folder/library` and index them into `folder/index`; returns the index folder."""
    library = folder / "library"
    library.mkdir(parents=True)
    make_pdf(library / "report.pdf", PDF_PAGES)
    (library / "superbowl.txt").write_text(SUPER_BOWL + "\n", encoding="utf-8")
    (library / "normans.txt").write_text(NORMANS + "\n", encoding="utf-8")
    Index.build([library], folder / "index").close()
    return folder / "index"
