"""Layout A, the scored profile page: fields, tolerance, errors, and round trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg.errors import DocumentError
from kg.parse.profile_page import (
    DATE_LINE,
    LineCursor,
    code_repositories,
    parse_profile_page,
    resolve_date,
    split_byline,
    split_lines,
)
from kg.parse.records import Metrics, Paper, Profile

DATA = Path(__file__).parent / "data" / "parsing"
AS_OF = dt.date(2026, 11, 21)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HEADER = (
    "Ada Lovelace\n\nLG\nh-index12\n27papers\n12,345citations\nNovelty61%\nAI Score47\n\n4 Papers\n"
)
PAPER = (
    "\nLGMay 28\nA title\n\n"  # date line 12, title 13
    "Ada Lovelace, Charles Babbage\n\n"  # byline 15
    "An abstract that mentions Smith et al.\n"  # abstract 17
)
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def parse(text: str, as_of: dt.date = AS_OF) -> Profile:
    return parse_profile_page(text, path="page.txt", as_of=as_of)


def error_of(text: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse(text)
    return caught.value


# --- the fixture document -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_text() -> str:
    return (DATA / "profile_page.txt").read_text(encoding="utf-8")


def test_fixture_header(fixture_text: str) -> None:
    profile = parse(fixture_text)
    assert profile.name == "Ada Lovelace"
    assert profile.name_as_printed is None
    assert profile.layout == "scored-profile-page"
    assert profile.category_code == "LG"
    assert profile.metrics == Metrics(
        h_index=12,
        paper_count=27,
        citation_count=12345,
        novelty_score=Decimal("61"),
        ai_score=Decimal("47"),
    )
    # the page says 4 papers but lists 3: recorded, not an error
    assert profile.listed_paper_count == 4
    assert len(profile.papers) == 3


def test_fixture_papers(fixture_text: str) -> None:
    first, second, third = parse(fixture_text).papers
    assert first == Paper(
        title='Sketch of the Analytical Engine: "Notes" by the Translator & <Commentary>',
        line=12,
        abstract=(
            "We extend the notes of Menabrea et al. (1842) on Bernoulli numbers $B_{n}$ with a "
            "worked table. Code is at https://github.com/ada/notes-g. The engine homepage is "
            "https://engine.example.org/home."
        ),
        category_code="CL",
        date=dt.date(2026, 3, 13),
        date_text="Mar 13",
        score=Decimal("88.25"),
        code_available=True,
        byline="Luigi Menabrea, Ada Lovelace, Charles Babbage et al.",
        authors=("Luigi Menabrea", "Ada Lovelace", "Charles Babbage"),
        byline_complete=False,
        organisations=("turin-academy", "ucl"),
        code_repositories=("https://github.com/ada/notes-g",),
    )
    assert second.title == "Über die Differenzmaschine: $\\alpha^{2}$ \\cite{babbage} in Ünïcödé"
    assert second.line == 19
    assert (second.date, second.date_text) == (dt.date(2025, 12, 23), "Dec 23, 2025")
    assert (second.score, second.code_available) == (None, False)
    assert second.authors == ("Ada Lovelace", "Mary Somerville")
    assert second.byline_complete is True
    assert second.organisations == ()
    assert "keeps its  double  spaces" in (second.abstract or "")
    assert third.date == dt.date(2024, 2, 29)  # the latest Feb 29 not after the as-of date
    assert third.authors == ("Charles Babbage",)
    assert third.byline_complete is False
    assert third.code_repositories == (
        "https://huggingface.co/ada/engine-7b",
        "https://gitlab.com/ada/engine",
    )


def test_line_endings_and_final_newline_do_not_matter(fixture_text: str) -> None:
    expected = parse(fixture_text)
    assert parse(fixture_text.replace("\n", "\r\n")) == expected
    assert parse(fixture_text.replace("\n", "\r")) == expected
    assert parse(fixture_text.rstrip("\n")) == expected
    assert parse("\ufeff" + fixture_text) == expected


def test_extra_blank_lines_and_padding_on_structural_lines_are_tolerated() -> None:
    padded = (
        "\n\n  Ada Lovelace  \n\n\n LG \n\nh-index 12\n 27 papers\n12,345 citations \n"
        "Novelty 61 %\nAI Score 47\n\n\n\n 4 Papers \n\n\n  LGMay 28  \n\nA title\n\n\n"
        "Ada Lovelace, Charles Babbage\n\n\nAn abstract that mentions Smith et al.\n\n\n"
    )
    expected = parse(HEADER + PAPER)
    (paper,) = expected.papers
    assert parse(padded) == dataclasses.replace(
        expected, papers=(dataclasses.replace(paper, line=19),)
    )


def test_literals_are_kept_exactly() -> None:
    text = HEADER + (
        "\nLGMay 28\n  A \\title\\ with <b>&amp;</b> \"q\" 'q' $x^{2}$  \n\n"
        "Ada  Lovelace, Charles Babbage\n\n  An abstract  with padding.  \n"
    )
    (paper,) = parse(text).papers
    assert paper.title == "  A \\title\\ with <b>&amp;</b> \"q\" 'q' $x^{2}$  "
    assert paper.byline == "Ada  Lovelace, Charles Babbage"
    assert paper.authors == ("Ada  Lovelace", "Charles Babbage")
    assert paper.abstract == "  An abstract  with padding.  "


def test_a_page_without_papers() -> None:
    profile = parse(HEADER.replace("4 Papers", "0 Papers"))
    assert (profile.listed_paper_count, profile.papers) == (0, ())


def test_singular_counts() -> None:
    text = HEADER.replace("27papers", "1paper").replace("12,345citations", "1citation")
    profile = parse(text.replace("4 Papers", "1 Paper") + PAPER)
    assert (profile.metrics.paper_count, profile.metrics.citation_count) == (1, 1)
    assert profile.listed_paper_count == 1


def test_name_printed_reversed_is_shown_first_last() -> None:
    profile = parse(HEADER.replace("Ada Lovelace\n", "Lovelace, Ada\n", 1))
    assert (profile.name, profile.name_as_printed) == ("Ada Lovelace", "Lovelace, Ada")


# --- date lines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "score", "code", "date", "date_text", "code_available"),
    [
        ("AIDec 23, 2025", None, "AI", dt.date(2025, 12, 23), "Dec 23, 2025", False),
        ("COMar 13", None, "CO", dt.date(2026, 3, 13), "Mar 13", False),
        ("92.3LGMay 28", Decimal("92.3"), "LG", dt.date(2026, 5, 28), "May 28", False),
        ("CLDec 26, 2025Code", None, "CL", dt.date(2025, 12, 26), "Dec 26, 2025", True),
        ("7MEFeb 3Code", Decimal("7"), "ME", dt.date(2026, 2, 3), "Feb 3", True),
        ("0.125CVJan 01, 1999", Decimal("0.125"), "CV", dt.date(1999, 1, 1), "Jan 01, 1999", False),
    ],
)
def test_date_line(
    line: str,
    score: Decimal | None,
    code: str,
    date: dt.date,
    date_text: str,
    code_available: bool,
) -> None:
    (paper,) = parse(HEADER + PAPER.replace("LGMay 28", line)).papers
    assert paper.score == score
    assert str(paper.score) == str(score)  # exact decimal, no float rounding
    assert paper.category_code == code
    assert (paper.date, paper.date_text, paper.code_available) == (date, date_text, code_available)


@pytest.mark.parametrize(
    ("month", "day", "as_of", "expected"),
    [
        (3, 13, dt.date(2026, 11, 21), dt.date(2026, 3, 13)),
        (12, 23, dt.date(2026, 11, 21), dt.date(2025, 12, 23)),
        (11, 21, dt.date(2026, 11, 21), dt.date(2026, 11, 21)),
        (11, 22, dt.date(2026, 11, 21), dt.date(2025, 11, 22)),
        (2, 29, dt.date(2026, 11, 21), dt.date(2024, 2, 29)),
        (2, 29, dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
        (2, 29, dt.date(2024, 2, 28), dt.date(2020, 2, 29)),
        (2, 29, dt.date(2100, 12, 31), dt.date(2096, 2, 29)),  # 2100 is not a leap year
        (1, 1, dt.date(1, 1, 1), dt.date(1, 1, 1)),
    ],
)
def test_year_less_dates_resolve_to_the_latest_not_after_as_of(
    month: int, day: int, as_of: dt.date, expected: dt.date
) -> None:
    assert resolve_date(month, day, None, as_of) == expected


def test_year_less_date_before_the_first_year_is_an_error() -> None:
    with pytest.raises(ValueError):
        resolve_date(12, 31, None, dt.date(1, 1, 1))


@pytest.mark.parametrize(
    "date_line", ["LGDec 45", "LGFeb 30, 2025", "LGFeb 29, 2025", "LGFeb 30", "LGFoo 3", "LGMay 0"]
)
def test_invalid_dates_are_errors_naming_the_line(date_line: str) -> None:
    error = error_of(HEADER + PAPER.replace("LGMay 28", date_line))
    assert error.line == 12
    assert "invalid date" in error.reason
    assert repr(date_line[2:]) in error.reason


@pytest.mark.parametrize(
    "date_line", ["LG May 28", "LGMay28", "lgMay 28", "LGMAY 28", "LGMay 28 2025", "LGMay 28, 25"]
)
def test_malformed_date_lines_are_errors(date_line: str) -> None:
    error = error_of(HEADER + PAPER.replace("LGMay 28", date_line))
    assert error.line == 12
    assert "expected a paper's date line" in error.reason
    assert repr(date_line) in error.reason


# --- bylines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("byline", "authors", "complete"),
    [
        (
            "Hamed Firooz, Rui Liu, Yuchen Lu et al.",
            ("Hamed Firooz", "Rui Liu", "Yuchen Lu"),
            False,
        ),
        ("Zhicheng Zhu, Adrien Busnot Laurent", ("Zhicheng Zhu", "Adrien Busnot Laurent"), True),
        ("Ling Team", ("Ling Team",), True),
        ("A, B, et al.", ("A", "B"), False),
        ("et al.", (), False),
        ("ZhaoXin Huan,Yulong Wang", ("ZhaoXin Huan", "Yulong Wang"), True),
        ("Jet al.", ("Jet al.",), True),
    ],
)
def test_split_byline(byline: str, authors: tuple[str, ...], complete: bool) -> None:
    assert split_byline(byline) == (authors, complete)


@pytest.mark.parametrize("byline", ["A, , B", "A,", ", B", "   "])
def test_split_byline_rejects_empty_names(byline: str) -> None:
    with pytest.raises(ValueError):
        split_byline(byline)


def test_organisations_follow_a_middle_dot() -> None:
    text = HEADER + PAPER.replace(
        "Ada Lovelace, Charles Babbage\n",
        "Kashun Shum, Yuzhen Huang et al. \u00b7 baidu, tencent-ai\n",
    )
    (paper,) = parse(text).papers
    assert paper.byline == "Kashun Shum, Yuzhen Huang et al."
    assert paper.organisations == ("baidu", "tencent-ai")
    assert paper.authors == ("Kashun Shum", "Yuzhen Huang")
    assert paper.byline_complete is False


@pytest.mark.parametrize("orgs", ["Baidu", "baidu, ", "tencent ai", ""])
def test_organisations_must_be_slugs(orgs: str) -> None:
    text = HEADER + PAPER.replace(", Charles Babbage\n", f", Charles Babbage \u00b7 {orgs}\n")
    error = error_of(text)
    assert error.line == 15
    assert "organisation slugs" in error.reason


def test_empty_author_name_is_an_error_naming_the_byline_line() -> None:
    error = error_of(HEADER + PAPER.replace("Ada Lovelace, Charles", "Ada Lovelace, , Charles"))
    assert error.line == 15
    assert "empty author name" in error.reason


def test_et_al_in_an_abstract_is_text() -> None:
    (paper,) = parse(HEADER + PAPER).papers
    assert paper.byline_complete is True
    assert paper.abstract == "An abstract that mentions Smith et al."


# --- code repositories ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at https://github.com/hkust-nlp/Laser.", ("https://github.com/hkust-nlp/Laser",)),
        (
            "see https://github.com/daochenzha/neuroshard",
            ("https://github.com/daochenzha/neuroshard",),
        ),
        ("at https://huggingface.co/inclusionAI.", ("https://huggingface.co/inclusionAI",)),
        ("homepage https://www.atecup.cn/home.", ()),
        ("(code: https://gitlab.com/a/b), more", ("https://gitlab.com/a/b",)),
        (
            "https://bitbucket.org/a/b; https://codeberg.org/c/d:",
            ("https://bitbucket.org/a/b", "https://codeberg.org/c/d"),
        ),
        ("https://sourceforge.net/projects/x!", ("https://sourceforge.net/projects/x",)),
        ("https://gist.github.com/u/1234", ("https://gist.github.com/u/1234",)),
        ("https://github.com/a/b_(c)", ("https://github.com/a/b_(c)",)),
        ("twice https://github.com/a/b and https://github.com/a/b.", ("https://github.com/a/b",)),
        ("bare host https://github.com/ only", ()),
        ("lookalike https://notgithub.com/a/b", ()),
        ("\\url{https://github.com/a/b}", ("https://github.com/a/b",)),
        ("http://[::1/x github.com/a/b without scheme", ()),
    ],
)
def test_code_repositories(text: str, expected: tuple[str, ...]) -> None:
    assert code_repositories(text) == expected


# --- errors name the line, what was expected and what was found ----------------------------


@pytest.mark.parametrize(
    ("line", "replacement", "expected"),
    [
        (3, "Computer Science", "a category code like 'LG'"),
        (4, "hindex 7", "'h-index<int>'"),
        (5, "27 papers and more", "'<int>papers'"),
        (6, "12.345citations", "'<int>citations'"),
        (7, "Novelty61", "'Novelty<int>%'"),
        (8, "AI Score", "'AI Score<int>'"),
        (10, "4 papers", "'<int> Papers'"),
    ],
)
def test_unexpected_header_line(line: int, replacement: str, expected: str) -> None:
    lines = (HEADER + PAPER).split("\n")
    lines[line - 1] = replacement
    error = error_of("\n".join(lines))
    assert (error.path, error.line) == ("page.txt", line)
    assert error.reason == f"expected {expected}, found {replacement!r}"


def test_found_text_is_truncated() -> None:
    error = error_of(HEADER.replace("h-index12", "x" * 500))
    assert error.line == 4
    assert "x" * 80 + "\u2026'" in error.reason
    assert "x" * 81 not in error.reason


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "expected the researcher's name, found end of document"),
        ("\n\n", 2, "expected the researcher's name, found end of document"),
        (HEADER.split("h-index")[0], 3, "expected 'h-index<int>', found end of document"),
        (HEADER + "\nLGMay 28\n", 12, "expected the paper's title, found end of document"),
        (
            HEADER + "\nLGMay 28\nT\nA, B\n",
            14,
            "expected a blank line and then the byline, found 'A, B'",
        ),
        (
            HEADER + "\nLGMay 28\nT\n\nA, B\nAbstract\n",
            16,
            "expected a blank line and then the abstract, found 'Abstract'",
        ),
        (HEADER + "\nLGMay 28\nT\n\nA, B\n", 15, "expected the abstract, found end of document"),
        (
            HEADER + PAPER + "second abstract line\n",
            18,
            "expected a paper's date line like 'LGMay 28' or '92.3CLDec 26, 2025Code', "
            "found 'second abstract line'",
        ),
        (
            HEADER + "\nLGMay 28\nT\n\nA, B\n\nCLMay 3\n",
            17,
            "expected the abstract, found a date line 'CLMay 3'",
        ),
        (
            HEADER + "\nLGMay 28\nCLMay 3\n",
            13,
            "expected the paper's title, found a date line 'CLMay 3'",
        ),
    ],
)
def test_structure_errors(text: str, line: int | None, reason: str) -> None:
    error = error_of(text)
    assert (error.line, error.reason) == (line, reason)
    assert str(error).startswith("page.txt")


def test_line_cursor_numbers_lines_from_one() -> None:
    cursor = LineCursor("\n\na\r\n\r\nb", path="x")
    assert cursor.take("a") == (3, "a")
    assert cursor.take("b", after_blank=True) == (5, "b")
    assert cursor.at_end()


def test_split_lines_keeps_other_separators_inside_lines() -> None:
    assert split_lines("a\u2028b\x0cc\u0085d\n") == ["a\u2028b\x0cc\u0085d"]


# --- round trips: records -> page -> records ----------------------------------------------

_LINE_SAFE = st.characters(codec="utf-8", exclude_characters="\r\n")
_FRAGMENTS = st.sampled_from(
    [
        "$^{2}$",
        "\\cite{x}",
        '"quoted"',
        "<b>",
        "&amp;",
        "\\",
        "Über",
        "日本語",
        " et al. ",
        "·",
        "é",
    ]
)
_NAME_WORD = st.text(
    st.characters(categories=("Lu", "Ll", "Lo")), min_size=1, max_size=8
) | st.sampled_from(["José", "Núñez", "O'Neil", "Jean-Luc", "ZhaoXin", "de"])


def _free_text(min_size: int = 1) -> st.SearchStrategy[str]:
    pieces = st.lists(st.text(_LINE_SAFE, max_size=12) | _FRAGMENTS, min_size=min_size, max_size=6)
    return pieces.map("".join).filter(
        lambda s: bool(s.strip()) and DATE_LINE.fullmatch(s.strip()) is None
    )


names = st.lists(_NAME_WORD, min_size=1, max_size=3).map(" ".join)
_UPPER = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SLUG_WORD = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1, max_size=6
)
slugs = st.lists(_SLUG_WORD, min_size=1, max_size=3).map("-".join)
codes = st.sampled_from(["AI", "CL", "CO", "CV", "DC", "IR", "LG", "ME"]) | st.builds(
    "{}{}".format, _UPPER, _UPPER
)
decimals = st.builds(
    lambda whole, fraction: Decimal(f"{whole}{fraction}"),
    st.integers(0, 999),
    st.sampled_from(["", ".0", ".5", ".25", ".125", ".30", ".999"]),
)
repositories = st.builds(
    "https://{}/{}/{}".format,
    st.sampled_from(["github.com", "gitlab.com", "huggingface.co", "codeberg.org"]),
    slugs,
    slugs,
)


@st.composite
def papers(draw: st.DrawFn, as_of: dt.date) -> Paper:
    with_year = draw(st.booleans())
    if with_year:
        date = draw(st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)))
        date_text = f"{MONTHS[date.month - 1]} {date.day}, {date.year}"
    else:
        date = as_of - dt.timedelta(days=draw(st.integers(0, 364)))
        date_text = f"{MONTHS[date.month - 1]} {date.day}"
    authors = tuple(draw(st.lists(names, min_size=1, max_size=4)))
    complete = draw(st.booleans())
    repos = tuple(draw(st.lists(repositories, max_size=2, unique=True)))
    abstract = draw(_free_text().filter(lambda s: "://" not in s))
    for repo in repos:
        abstract += f" see {repo}{draw(st.sampled_from(['', '.', ',', ';', ':', ')']))} more"
    return Paper(
        title=draw(_free_text()),
        line=0,
        abstract=abstract,
        category_code=draw(codes),
        date=date,
        date_text=date_text,
        score=draw(st.none() | decimals),
        code_available=draw(st.booleans()),
        byline=", ".join(authors) + ("" if complete else " et al."),
        authors=authors,
        byline_complete=complete,
        organisations=tuple(draw(st.lists(slugs, max_size=3))),
        code_repositories=repos,
    )


@st.composite
def profiles(draw: st.DrawFn, as_of: dt.date) -> Profile:
    return Profile(
        name=draw(names),
        layout="scored-profile-page",
        category_code=draw(codes),
        metrics=Metrics(
            h_index=draw(st.integers(0, 10**4)),
            paper_count=draw(st.integers(0, 10**5)),
            citation_count=draw(st.integers(0, 10**8)),
            novelty_score=draw(decimals),
            ai_score=draw(decimals),
        ),
        listed_paper_count=draw(st.integers(0, 10**4)),
        papers=tuple(draw(st.lists(papers(as_of), max_size=3))),
    )


def render(profile: Profile) -> tuple[list[str], Profile]:
    """The page's lines, and the profile with the line numbers the page gives its papers."""
    metrics = profile.metrics
    paper_count, citation_count = metrics.paper_count or 0, metrics.citation_count or 0
    lines = [
        profile.name,
        "",
        profile.category_code or "",
        f"h-index{metrics.h_index}",
        f"{paper_count}paper{'' if paper_count == 1 else 's'}",
        f"{citation_count:,}citation{'' if citation_count == 1 else 's'}",
        f"Novelty{metrics.novelty_score}%",
        f"AI Score{metrics.ai_score}",
        "",
        f"{profile.listed_paper_count} Papers",
    ]
    numbered = []
    for paper in profile.papers:
        orgs = f" \u00b7 {', '.join(paper.organisations)}" if paper.organisations else ""
        lines.append("")
        numbered.append(dataclasses.replace(paper, line=len(lines) + 1))
        lines += [
            f"{'' if paper.score is None else paper.score}{paper.category_code}{paper.date_text}"
            + ("Code" if paper.code_available else ""),
            paper.title,
            "",
            f"{paper.byline}{orgs}",
            "",
            paper.abstract or "",
        ]
    return lines, dataclasses.replace(profile, papers=tuple(numbered))


as_of_dates = st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31))


@PROPERTY_SETTINGS
@given(st.data(), as_of_dates, st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_round_trip(data: st.DataObject, as_of: dt.date, newline: str, final: bool) -> None:
    lines, expected = render(data.draw(profiles(as_of)))
    text = newline.join(lines) + (newline if final else "")
    assert parse(text, as_of) == expected


@PROPERTY_SETTINGS
@given(st.data(), as_of_dates)
def test_deleting_any_non_blank_line_is_an_error(data: st.DataObject, as_of: dt.date) -> None:
    lines, _ = render(data.draw(profiles(as_of)))
    index = data.draw(st.sampled_from([i for i, line in enumerate(lines) if line.strip()]))
    with pytest.raises(DocumentError) as caught:
        parse("\n".join(lines[:index] + lines[index + 1 :]), as_of)
    assert caught.value.path == "page.txt"


@PROPERTY_SETTINGS
@given(st.data(), as_of_dates)
def test_truncated_pages_parse_or_raise_document_error(data: st.DataObject, as_of: dt.date) -> None:
    lines, _ = render(data.draw(profiles(as_of)))
    text = "\n".join(lines)
    cut = data.draw(st.integers(0, len(text)))
    header_end = len("\n".join(lines[:9]))  # up to the line before "<n> Papers"
    try:
        parse(text[:cut], as_of)
    except DocumentError:
        return
    assert cut > header_end


@PROPERTY_SETTINGS
@given(st.data(), as_of_dates, st.text(max_size=20))
def test_mutated_pages_parse_or_raise_document_error(
    data: st.DataObject, as_of: dt.date, inserted: str
) -> None:
    lines, _ = render(data.draw(profiles(as_of)))
    text = "\n".join(lines)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 20)))
    try:
        parse(text[:start] + inserted + text[end:], as_of)
    except DocumentError:
        pass


@PROPERTY_SETTINGS
@given(st.text())
def test_any_text_parses_or_raises_document_error(text: str) -> None:
    try:
        parse(text)
    except DocumentError:
        pass
