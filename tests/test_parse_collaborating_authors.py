"""Layout B, the "Collaborating Authors" listing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.errors import DocumentError
from kg.parse.collaborating_authors import parse_collaborating_authors
from kg.parse.records import Paper, Profile

DATA = Path(__file__).parent / "data" / "parsing"
NBSP = "\u00a0"
HEADER = f"Goto\n\nCollaborating Authors\n\n{NBSP}Lovelace, Ada\n\n\n"
PAPER = "A title\n\narXiv.org Artificial Intelligence\n\nAn abstract.\n\n\n"


def parse(text: str) -> Profile:
    return parse_collaborating_authors(text, path="listing.txt")


def error_of(text: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse(text)
    return caught.value


def test_fixture() -> None:
    profile = parse((DATA / "collaborating_authors.txt").read_text(encoding="utf-8"))
    assert profile.name == "Ada Lovelace"
    assert profile.name_as_printed == "Lovelace, Ada"
    assert profile.layout == "collaborating-authors"
    assert profile.metrics.h_index is None
    assert profile.listed_paper_count is None
    assert profile.category_code is None
    assert profile.papers == (
        Paper(
            title="On the Use of the Analytical Engine for Bernoulli Numbers",
            line=8,
            abstract=(
                "We compute Bernoulli numbers with the engine; see https://github.com/ada/bernoulli."
            ),
            source_feed="arXiv.org Artificial Intelligence",
            code_repositories=("https://github.com/ada/bernoulli",),
        ),
        Paper(
            title='Notes & Queries: <Mechanical> "Poetry"',
            line=15,
            abstract="An abstract with $\\mathbb{R}^{n}$ and a backslash \\ and et al. in it.",
            source_feed="arXiv.org Computation and Language",
        ),
    )
    for paper in profile.papers:
        assert (paper.byline, paper.authors, paper.byline_complete) == (None, (), None)
        assert (paper.date, paper.score, paper.code_available) == (None, None, False)


def test_line_endings_blank_lines_and_padding_do_not_matter() -> None:
    expected = parse(HEADER + PAPER + PAPER)
    assert parse((HEADER + PAPER + PAPER).replace("\n", "\r\n")) == expected
    assert parse((HEADER + PAPER + PAPER).rstrip("\n")) == expected
    padded = HEADER.replace("Goto\n", "\n  Goto \n\n\n") + PAPER + PAPER
    (first, second) = parse(padded).papers
    assert (first.line, second.line) == (11, 18)
    assert dataclasses.replace(first, line=8) == expected.papers[0]


def test_name_without_no_break_space_or_comma() -> None:
    assert parse(HEADER.replace(f"{NBSP}Lovelace, Ada", "Ada Lovelace")).name == "Ada Lovelace"
    profile = parse(HEADER.replace(f"{NBSP}Lovelace, Ada", f"{NBSP}Ada Lovelace"))
    assert (profile.name, profile.name_as_printed) == ("Ada Lovelace", None)


def test_listing_without_papers() -> None:
    assert parse(HEADER).papers == ()


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "expected 'Goto', found end of document"),
        ("Go to\n", 1, "expected 'Goto', found 'Go to'"),
        ("Goto\n\nCollaborators\n", 3, "expected 'Collaborating Authors', found 'Collaborators'"),
        (
            "Goto\n\nCollaborating Authors\n\n",
            4,
            "expected the researcher's name, like '\\xa0Zhang, Zheng', found end of document",
        ),
        (HEADER + "A title\n", 8, "expected the paper's source feed, found end of document"),
        (
            HEADER + "A title\narXiv.org\n",
            9,
            "expected a blank line and then the paper's source feed, found 'arXiv.org'",
        ),
        (HEADER + "A title\n\narXiv.org\n\n", 11, "expected the abstract, found end of document"),
        (
            HEADER + PAPER + "Next title\nmore title\n",
            16,
            "expected a blank line and then the paper's source feed, found 'more title'",
        ),
    ],
)
def test_structure_errors(text: str, line: int | None, reason: str) -> None:
    error = error_of(text)
    assert (error.path, error.line, error.reason) == ("listing.txt", line, reason)


_LINE_SAFE = st.characters(codec="utf-8", exclude_characters="\r\n")
_FIELD = st.text(_LINE_SAFE, min_size=1, max_size=30).filter(lambda s: bool(s.strip()))


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.tuples(_FIELD, _FIELD, _FIELD), max_size=4),
    st.sampled_from(["\n", "\r\n"]),
)
def test_round_trip(papers: list[tuple[str, str, str]], newline: str) -> None:
    lines = ["Goto", "", "Collaborating Authors", "", f"{NBSP}Zhang, Zheng", "", ""]
    expected = []
    for title, feed, abstract in papers:
        expected.append(
            Paper(title=title, line=len(lines) + 1, abstract=abstract, source_feed=feed)
        )
        lines += [title, "", feed, "", abstract, "", ""]
    profile = parse(newline.join(lines))
    assert (profile.name, profile.name_as_printed) == ("Zheng Zhang", "Zhang, Zheng")
    assert [dataclasses.replace(p, code_repositories=()) for p in profile.papers] == expected


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(), st.integers(0, 400), st.integers(0, 20))
def test_mutated_listings_parse_or_raise_document_error(
    inserted: str, start: int, length: int
) -> None:
    text = HEADER + PAPER + PAPER
    start = min(start, len(text))
    try:
        parse(text[:start] + inserted + text[start + length :])
    except DocumentError:
        pass
