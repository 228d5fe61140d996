"""The JSON Lines form: schema, exact decimals, per-line errors, and round trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from kg.errors import DocumentError
from kg.parse.jsonl import load_profile_schema, parse_jsonl
from kg.parse.records import Identifier, Metrics, Paper, Profile, SourceDocument

DATA = Path(__file__).parent / "data" / "parsing"
AS_OF = dt.date(2026, 11, 21)
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def parse(data: bytes) -> list[SourceDocument | DocumentError]:
    return list(parse_jsonl(data, path="p.jsonl", as_of=AS_OF))


def one(record: dict[str, Any] | str) -> SourceDocument:
    line = record if isinstance(record, str) else json.dumps(record)
    (result,) = parse(line.encode("utf-8"))
    assert isinstance(result, SourceDocument), result
    return result


def error(record: dict[str, Any] | str | bytes) -> DocumentError:
    if isinstance(record, dict):
        record = json.dumps(record)
    if isinstance(record, str):
        record = record.encode("utf-8")
    (result,) = parse(record)
    assert isinstance(result, DocumentError), result
    return result


# --- the schema ----------------------------------------------------------------------------


def _object_schemas(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _object_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _object_schemas(value)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_profile_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_object_in_the_schema_forbids_unknown_properties() -> None:
    objects = list(_object_schemas(load_profile_schema()))
    assert len(objects) == 5  # record, metrics, person identifiers, paper, paper identifiers
    assert all(node.get("additionalProperties") is False for node in objects)


# --- the fixture file ----------------------------------------------------------------------


def test_fixture_file() -> None:
    raw = (DATA / "profiles.jsonl").read_bytes()
    full, reversed_name, typo, bad_date = parse(raw)
    assert isinstance(full, SourceDocument)
    assert full.line == 1
    assert full.path == "p.jsonl"
    assert full.sha256 == hashlib.sha256(raw.split(b"\n")[0]).hexdigest()
    assert full.as_of == dt.date(2026, 10, 1)  # the record's own as-of date wins
    profile = full.profile
    assert profile.layout == "jsonl"
    assert profile.name == "Ada Lovelace"
    assert profile.alternate_names == ("A. A. Lovelace", "Augusta Ada King")
    assert profile.category_code == "LG"
    assert profile.metrics == Metrics(12, 27, 12345, Decimal("61.50"), Decimal("47"))
    assert str(profile.metrics.novelty_score) == "61.50"
    assert profile.listed_paper_count == 4
    assert profile.identifiers == (
        Identifier("orcid", "0000-0002-1825-0097"),
        Identifier("dblp", "l/AdaLovelace"),
        Identifier("wikidata", "Q7259"),
        Identifier("profile", "https://profiles.example.org/ada"),
    )
    (paper,) = profile.papers
    assert paper == Paper(
        title='Sketch of the Analytical Engine: "Notes" & <Commentary> $B_{n}$ \\cite{x}',
        line=1,
        abstract="Notes by Menabrea et al.; code at https://github.com/ada/notes-g.",
        category_code="CL",
        date=dt.date(2026, 3, 13),
        date_text="Mar 13",
        score=Decimal("88.25"),
        code_available=True,
        byline="Luigi Menabrea, Ada Lovelace et al.",
        authors=("Luigi Menabrea", "Ada Lovelace"),
        byline_complete=False,
        organisations=("turin-academy", "ucl"),
        code_repositories=("https://github.com/ada/notes-g",),
        identifiers=(Identifier("arxiv", "2503.14476"), Identifier("doi", "10.1000/xyz-123")),
    )

    assert isinstance(reversed_name, SourceDocument)
    assert reversed_name.line == 3  # blank line 2 is skipped, numbering is not
    assert reversed_name.as_of == AS_OF
    assert reversed_name.profile.name == "Ada Lovelace"
    assert reversed_name.profile.name_as_printed == "Lovelace, Ada"
    (listed,) = reversed_name.profile.papers
    assert listed.title == "Über die Differenzmaschine"
    assert listed.source_feed == "arXiv.org Artificial Intelligence"
    assert (listed.authors, listed.byline_complete, listed.code_repositories) == (
        ("Ada Lovelace",),
        True,
        (),
    )

    assert isinstance(typo, DocumentError)
    assert (typo.path, typo.line) == ("p.jsonl", 4)
    assert "'metrcs' was unexpected" in typo.reason
    assert "additionalProperties" in typo.reason

    assert isinstance(bad_date, DocumentError)
    assert bad_date.line == 5
    assert bad_date.reason.startswith("papers/0/date: '2025-02-30' is not a 'date'")


# --- values --------------------------------------------------------------------------------


def test_decimals_are_exact() -> None:
    line = (
        '{"name": "A", "metrics": {"novelty_score": 0.1, "ai_score": 1e2},'
        ' "papers": [{"title": "T", "score": 92.30}, {"title": "U", "score": 7},'
        ' {"title": "V", "score": "0.30000000000000000001"}]}'
    )
    profile = one(line).profile
    assert str(profile.metrics.novelty_score) == "0.1"
    assert profile.metrics.ai_score == Decimal(100)
    assert [str(p.score) for p in profile.papers] == ["92.30", "7", "0.30000000000000000001"]


@pytest.mark.parametrize(
    ("record", "where"),
    [
        ({"name": "A", "metrics": {"h_index": True}}, "metrics/h_index"),
        ({"name": "A", "metrics": {"h_index": 5.0}}, "metrics/h_index"),
        ({"name": "A", "metrics": {"citation_count": -1}}, "metrics/citation_count"),
        ({"name": "A", "metrics": {"ai_score": "62%"}}, "metrics/ai_score"),
        ({"name": "A", "metrics": {"ai_score": -1}}, "metrics/ai_score"),
        ({"name": "A", "listed_paper_count": "3"}, "listed_paper_count"),
        ({"name": " "}, "name"),
        ({"name": "A", "as_of": "2026-13-01"}, "as_of"),
        ({"name": "A", "as_of": "21.11.2026"}, "as_of"),
        ({"name": "A", "category": "cs.LG"}, "category"),
        ({"name": "A", "alternate_names": ["B", "B"]}, "alternate_names"),
        ({"name": "A", "identifiers": {"orcid": "0000-0002-1825-009"}}, "identifiers/orcid"),
        ({"name": "A", "identifiers": {"wikidata": "Q0"}}, "identifiers/wikidata"),
        ({"name": "A", "identifiers": {"wikidata": "Q42\n"}}, "identifiers/wikidata"),
        ({"name": "A", "identifiers": {"profile_url": "ftp://x.org/a"}}, "identifiers/profile_url"),
        ({"name": "A", "identifiers": {"isni": "0000"}}, "identifiers"),
        ({"name": "A", "papers": [{"abstract": "no title"}]}, "papers/0"),
        ({"name": "A", "papers": [{"title": "T", "titel": "T"}]}, "papers/0"),
        ({"name": "A", "papers": [{"title": "T", "date": "2025-1-5"}]}, "papers/0/date"),
        (
            {"name": "A", "papers": [{"title": "T", "code_available": "yes"}]},
            "papers/0/code_available",
        ),
        (
            {"name": "A", "papers": [{"title": "T", "organisations": ["Baidu"]}]},
            "papers/0/organisations/0",
        ),
        ({"name": "A", "papers": [{"title": "T", "authors": ["", "B"]}]}, "papers/0/authors/0"),
        (
            {"name": "A", "papers": [{"title": "T", "code_repositories": ["github.com/a/b"]}]},
            "papers/0/code_repositories/0",
        ),
        (
            {"name": "A", "papers": [{"title": "T", "identifiers": {"arxiv": "2503.14476v2"}}]},
            "papers/0/identifiers/arxiv",
        ),
        (
            {"name": "A", "papers": [{"title": "T", "identifiers": {"doi": "doi:10.1000/x"}}]},
            "papers/0/identifiers/doi",
        ),
        ({"name": "A", "papers": {"title": "T"}}, "papers"),
    ],
)
def test_schema_errors_name_the_field(record: dict[str, Any], where: str) -> None:
    failure = error(record)
    assert (failure.path, failure.line) == ("p.jsonl", 1)
    assert failure.reason.startswith(f"{where}: ")
    assert "(schema: " in failure.reason


@pytest.mark.parametrize(
    "identifiers",
    [
        {"orcid": "0000-0002-1694-233X", "dblp": "44/8862-1", "wikidata": "Q42"},
        {"dblp": "h/JiaweiHan"},
    ],
)
def test_valid_person_identifiers(identifiers: dict[str, str]) -> None:
    profile = one({"name": "A", "identifiers": identifiers}).profile
    assert [i.value for i in profile.identifiers] == list(identifiers.values())


@pytest.mark.parametrize("arxiv", ["2503.14476", "0704.0001", "hep-th/9901001", "math.GT/0309136"])
def test_arxiv_identifiers_new_and_old_style(arxiv: str) -> None:
    paper = one({"name": "A", "papers": [{"title": "T", "identifiers": {"arxiv": arxiv}}]})
    assert paper.profile.papers[0].identifiers == (Identifier("arxiv", arxiv),)


def test_errors_report_how_many_more_failed() -> None:
    failure = error({"name": "A", "metrcs": {}, "papers": [{"title": 1}]})
    assert failure.reason.endswith("(and 1 more)")


def test_long_values_are_cut_in_messages() -> None:
    failure = error({"name": "A", "category": "X" * 5000})
    assert len(failure.reason) < 400


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{bad", "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
        (b'{"name": "A"} x', "invalid JSON: Extra data at column 15"),
        (b'{"name": "A", "name": "B"}', "invalid JSON: duplicate key 'name'"),
        (b'{"name": "A", "metrics": {"ai_score": NaN}}', "invalid JSON: NaN is not a number"),
        (
            b'{"name": "A", "metrics": {"h_index": Infinity}}',
            "invalid JSON: Infinity is not a number",
        ),
        (b"[]", "(record): [] is not of type 'object' (schema: type)"),
        (b'"text"', "(record): 'text' is not of type 'object' (schema: type)"),
        (b'{"name": "A\xff"}', "not UTF-8: invalid byte 0xff at byte offset 11"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nested too deeply"),
    ],
)
def test_bad_lines(line: bytes, reason: str) -> None:
    assert error(line).reason == reason


def test_huge_integers_are_errors() -> None:
    failure = error(b'{"name": "A", "metrics": {"h_index": ' + b"9" * 5000 + b"}}")
    assert failure.reason.startswith("invalid JSON: ")


def test_bad_lines_do_not_stop_good_ones() -> None:
    data = b'{"name": "A"}\n{oops\n\n{"name": "B"}\n[1]\n{"name": "C"}'
    results = parse(data)
    assert [type(r).__name__ for r in results] == [
        "SourceDocument",
        "DocumentError",
        "SourceDocument",
        "DocumentError",
        "SourceDocument",
    ]
    assert [r.line for r in results] == [1, 2, 4, 5, 6]


def test_line_endings_bom_and_hashes() -> None:
    data = b'\xef\xbb\xbf{"name": "A"}\r\n  \r\n{"name": "B"}\r\n'
    first, second = parse(data)
    assert isinstance(first, SourceDocument) and isinstance(second, SourceDocument)
    assert first.sha256 == hashlib.sha256(b'{"name": "A"}').hexdigest()
    assert (second.line, second.sha256) == (3, hashlib.sha256(b'{"name": "B"}').hexdigest())


def test_invalid_utf8_offset_counts_from_the_start_of_the_file() -> None:
    (good, bad) = parse(b'{"name": "A"}\n{"name": "\xc3("}\n')
    assert isinstance(bad, DocumentError)
    assert (bad.line, bad.reason) == (2, "not UTF-8: invalid byte 0xc3 at byte offset 24")


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n\t\n"])
def test_empty_data_is_an_error(data: bytes) -> None:
    (failure,) = parse(data)
    assert isinstance(failure, DocumentError)
    assert (failure.line, failure.reason) == (None, "empty document: no JSON records")


# --- what is derived when absent ---------------------------------------------------------


def test_authors_and_completeness_come_from_the_byline_when_absent() -> None:
    papers = one(
        {
            "name": "A",
            "papers": [
                {"title": "T", "byline": "A, B et al."},
                {"title": "U", "byline": "A, B"},
                {"title": "V", "byline": "A, B et al.", "authors": ["A"], "byline_complete": True},
                {"title": "W"},
            ],
        }
    ).profile.papers
    assert [(p.authors, p.byline_complete) for p in papers] == [
        (("A", "B"), False),
        (("A", "B"), True),
        (("A",), True),
        ((), None),
    ]


def test_empty_author_in_a_byline_is_an_error() -> None:
    failure = error({"name": "A", "papers": [{"title": "T", "byline": "A, , B"}]})
    assert failure.reason.startswith("papers/0/byline: empty author name")


def test_a_byline_is_only_split_when_authors_are_absent() -> None:
    papers = one(
        {
            "name": "A",
            "papers": [
                {"title": "T", "byline": ",", "authors": ["A"]},
                {"title": "U", "byline": ", et al.", "authors": []},
            ],
        }
    ).profile.papers
    assert [(p.byline, p.authors, p.byline_complete) for p in papers] == [
        (",", ("A",), True),
        (", et al.", (), False),
    ]


def test_code_repositories_come_from_the_abstract_when_absent() -> None:
    abstract = "Code at https://github.com/a/b."
    papers = one(
        {
            "name": "A",
            "papers": [
                {"title": "T", "abstract": abstract},
                {"title": "U", "abstract": abstract, "code_repositories": []},
            ],
        }
    ).profile.papers
    assert [p.code_repositories for p in papers] == [("https://github.com/a/b",), ()]


# --- round trips and fuzzing --------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
    lambda s: bool(s.strip())
)
_SLUG = st.lists(
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1, max_size=5),
    min_size=1,
    max_size=3,
).map("-".join)
_DECIMAL = st.builds(
    lambda whole, fraction: Decimal(f"{whole}{fraction}"),
    st.integers(0, 999),
    st.sampled_from(["", ".0", ".5", ".25", ".30", ".125"]),
)
_URL = st.builds("https://github.com/{}/{}".format, _SLUG, _SLUG)
_NAME = st.lists(
    st.text(st.characters(categories=("Lu", "Ll", "Lo")), min_size=1, max_size=8),
    min_size=1,
    max_size=3,
).map(" ".join)


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    byline = draw(st.none() | _TEXT)
    return Paper(
        title=draw(_TEXT),
        line=0,
        abstract=draw(st.none() | st.text(max_size=40)),
        category_code=draw(st.none() | st.sampled_from(["AI", "CL", "LG"])),
        date=draw(st.none() | st.dates()),
        date_text=draw(st.none() | _TEXT),
        score=draw(st.none() | _DECIMAL),
        code_available=draw(st.booleans()),
        byline=byline,
        authors=tuple(draw(st.lists(_TEXT, max_size=3))),
        byline_complete=draw(st.booleans()) if byline else None,
        organisations=tuple(draw(st.lists(_SLUG, max_size=2))),
        source_feed=draw(st.none() | _TEXT),
        code_repositories=tuple(draw(st.lists(_URL, max_size=2))),
        identifiers=tuple(
            draw(
                st.lists(
                    st.sampled_from(
                        [Identifier("arxiv", "2503.14476"), Identifier("doi", "10.1000/x")]
                    ),
                    unique=True,
                ).map(lambda ids: sorted(ids, key=lambda i: i.scheme))
            )
        ),
    )


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    return Profile(
        name=draw(_NAME),
        layout="jsonl",
        alternate_names=tuple(draw(st.lists(_TEXT, max_size=2, unique=True))),
        category_code=draw(st.none() | st.sampled_from(["AI", "CL", "LG"])),
        metrics=Metrics(
            h_index=draw(st.none() | st.integers(0, 10**6)),
            paper_count=draw(st.none() | st.integers(0, 10**6)),
            citation_count=draw(st.none() | st.integers(0, 10**9)),
            novelty_score=draw(st.none() | _DECIMAL),
            ai_score=draw(st.none() | _DECIMAL),
        ),
        listed_paper_count=draw(st.none() | st.integers(0, 10**4)),
        papers=tuple(draw(st.lists(papers(), max_size=3))),
        identifiers=(Identifier("orcid", "0000-0002-1825-0097"),) if draw(st.booleans()) else (),
    )


def to_record(profile: Profile, numbers: list[Decimal]) -> dict[str, Any]:
    """The JSON record of ``profile``; decimals become placeholders to splice in as numbers."""

    def decimal(value: Decimal | None) -> Any:
        if value is None:
            return None
        numbers.append(value)
        return f"@{len(numbers) - 1}@"

    def drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in mapping.items() if value is not None}

    metrics = profile.metrics
    papers = [
        drop_none(
            {
                "title": p.title,
                "abstract": p.abstract,
                "category": p.category_code,
                "date": p.date.isoformat() if p.date else None,
                "date_text": p.date_text,
                "score": decimal(p.score),
                "code_available": p.code_available,
                "byline": p.byline,
                "authors": list(p.authors),
                "byline_complete": p.byline_complete,
                "organisations": list(p.organisations),
                "source_feed": p.source_feed,
                "code_repositories": list(p.code_repositories),
                "identifiers": {i.scheme: i.value for i in p.identifiers},
            }
        )
        for p in profile.papers
    ]
    return drop_none(
        {
            "name": profile.name,
            "alternate_names": list(profile.alternate_names),
            "category": profile.category_code,
            "metrics": drop_none(
                {
                    "h_index": metrics.h_index,
                    "paper_count": metrics.paper_count,
                    "citation_count": metrics.citation_count,
                    "novelty_score": decimal(metrics.novelty_score),
                    "ai_score": decimal(metrics.ai_score),
                }
            ),
            "listed_paper_count": profile.listed_paper_count,
            "identifiers": {i.scheme: i.value for i in profile.identifiers},
            "papers": papers,
        }
    )


@PROPERTY_SETTINGS
@given(st.lists(profiles(), min_size=1, max_size=2), st.booleans(), st.booleans())
def test_round_trip(profiles: list[Profile], ascii_only: bool, as_strings: bool) -> None:
    lines: list[bytes] = []
    for profile in profiles:
        numbers: list[Decimal] = []
        text = json.dumps(to_record(profile, numbers), ensure_ascii=ascii_only)
        for index, number in enumerate(numbers):
            text = text.replace(f'"@{index}@"', f'"{number}"' if as_strings else str(number))
        lines.append(text.encode("utf-8"))
    results = parse(b"\n".join(lines))
    for line_number, (profile, result, line) in enumerate(
        zip(profiles, results, lines, strict=True), start=1
    ):
        assert isinstance(result, SourceDocument), result
        assert result.line == line_number
        assert result.sha256 == hashlib.sha256(line).hexdigest()
        expected_papers = tuple(dataclasses.replace(p, line=line_number) for p in profile.papers)
        assert result.profile == dataclasses.replace(profile, papers=expected_papers)


@PROPERTY_SETTINGS
@given(st.binary(max_size=200))
def test_any_bytes_give_documents_or_errors(data: bytes) -> None:
    results = parse(data)
    assert results
    assert all(isinstance(r, SourceDocument | DocumentError) for r in results)


@PROPERTY_SETTINGS
@given(profiles(), st.integers(0, 10_000), st.integers(0, 10), st.text(max_size=10))
def test_mutated_records_give_documents_or_errors(
    profile: Profile, start: int, length: int, inserted: str
) -> None:
    line = json.dumps(to_record(profile, []))
    start = min(start, len(line))
    mutated = (line[:start] + inserted + line[start + length :]).encode("utf-8", "surrogatepass")
    results = parse(mutated)
    assert all(isinstance(r, SourceDocument | DocumentError) for r in results)
