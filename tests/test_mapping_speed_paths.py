"""The fast paths of parsing and mapping write exactly what the plain code wrote.

Each test holds a fast path (``literal()``'s escaping, ``MappedDocument.nquads()``, terms
written once per document, the control-character screen and layout check of
:mod:`kg.parse.detect`) against a plain reference: the code as it was before, or its rule
written out here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from itertools import islice
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.errors import DocumentError
from kg.mapping import iris
from kg.mapping.iris import IriMinter
from kg.mapping.mapper import (
    _FALSE,
    _TRUE,
    MappedDocument,
    _boolean_term,
    _position_term,
    map_document,
)
from kg.output.ntriples import XSD_BOOLEAN, XSD_INTEGER, iri, literal, quad_line, typed
from kg.parse import detect
from kg.parse.detect import read_documents
from kg.parse.jsonl import parse_jsonl
from kg.parse.profile_page import parse_profile_page, split_lines
from kg.parse.records import Identifier, Metrics, Paper, Profile, SourceDocument

AS_OF = dt.date(2026, 11, 21)
INGESTED_AT = dt.datetime(2026, 12, 1, 12, 34, 56, tzinfo=dt.UTC)
MINTER = IriMinter("https://ex.org/id/")

#: text that needs every kind of escaping, and text that needs none but is not ASCII
AWKWARD = (
    'say "hi"', "back\\slash", "$\\mathcal{O}(n^2)$ and \\\"q\\\"", "tab\there",
    "new\nline", "cr\rlf\r\n", "nul\x00", "bell\x07", "bs\b ff\f vt\x0b", "esc\x1b[0m",
    "unit\x1f sep", "del\x7f", "c1 \x85 \x9f", "é and e\u0301", "\u2014 \u2028 \u2029",
    "\ufeffbom", "astral \U0001f600 \U00010000", "\u00a0nbsp\u3000", "", " ", "\\",
    '"', "plain ASCII title",
)


# --- literal() ---------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\b": "\\b", "\f": "\\f"}


def reference_literal(value: str) -> str:
    """The N-Triples escaping rule as the plain code applied it, one character at a time."""
    out = []
    for c in value:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < "\x20" or c == "\x7f":
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def test_literal_escapes_every_code_point_as_before() -> None:
    singles = [*range(0x1000), *range(0xD800, 0xE000), *range(0xFFF0, 0x10010), 0x10FFFF]
    for code in singles:
        text = f"a{chr(code)}b"
        assert literal(text) == reference_literal(text), hex(code)
    # every code point, in runs of 512 (a run with one control character takes the slow path)
    for start in range(0, 0x110000, 512):
        text = "".join(map(chr, range(start, start + 512)))
        assert literal(text) == reference_literal(text), hex(start)


@pytest.mark.parametrize("text", AWKWARD)
def test_literal_of_awkward_text(text: str) -> None:
    assert literal(text) == reference_literal(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60))
def test_literal_matches_the_rule(text: str) -> None:
    assert literal(text) == reference_literal(text)


def test_cached_terms_are_what_typed_writes() -> None:
    for flag in (True, False):
        assert _boolean_term(flag) == typed(flag, XSD_BOOLEAN)
    assert (_TRUE, _FALSE) == (typed(True, XSD_BOOLEAN), typed(False, XSD_BOOLEAN))
    # not a bool: written as typed() writes it, never mistaken for True or False
    assert _boolean_term(1) == typed(1, XSD_BOOLEAN) == '"1"^^<' + XSD_BOOLEAN + ">"  # type: ignore[arg-type]
    for position in (1, 2, 9, 10, 1000, 5000):
        assert _position_term(position) == typed(position, XSD_INTEGER)


def test_iri_helpers_cache_pure_functions() -> None:
    for name in ("Ada Lovelace", "José \"Pepe\" Núñez", "\\", "\U0001f600"):
        assert iris._name_digest(name) == iris._digest(name, 8)
        assert iris._name_digest(name) == iris._name_digest(name)
    for text in ("LG", "tencent-ai", "a b/c?d#e%", "é\U0001f600"):
        assert iris._segment(text) == quote(text, safe="-._~")


# --- MappedDocument.nquads() -------------------------------------------------------------

def reference_nquads(m: MappedDocument) -> bytes:
    """What the first document of a person adds, as the ingest wrote it before the fast
    path (a line per quad, joined as text, then encoded)."""
    g = iri(m.graph)
    person = iri(m.person)
    metric_triples = [(person, p, v) for p, v in m.metrics.items()]
    lines = [quad_line(t, g) for t in (*m.statements, *metric_triples, *m.observations)]
    lines += [quad_line(t, None) for t in (
        *m.statements, *m.observations, *m.description, *metric_triples)]
    return "".join(lines).encode()


def _paper(i: int, title: str, **fields: object) -> Paper:
    return Paper(title=title, line=10 * i + 1, **fields)  # type: ignore[arg-type]


def crafted_documents() -> list[SourceDocument]:
    """Documents with every awkward literal in names, titles, abstracts and bylines, and
    categories, organisations and feeds named by several papers."""
    papers = []
    for i, text in enumerate(AWKWARD):
        papers.append(_paper(
            i, f"Title {i}: {text}",
            abstract=f"Abstract {text} see https://github.com/a/b{i}. and \\cite{{x}}",
            category_code=("LG", "CV", "ME", None)[i % 4],
            date=dt.date(2025, 1 + i % 12, 1 + i), date_text=f"{text} {i}",
            score=Decimal(f"{i}.5") if i % 3 else None,
            code_available=bool(i % 2),
            byline=f"Ada Lovelace, {text or 'X'} Author{i}" + (" et al." if i % 2 else ""),
            authors=("Ada Lovelace", f"{text or 'X'} Author{i}", "ADA  LOVELACE", "Charles Babbage"),
            byline_complete=(True, False, None)[i % 3],
            organisations=(("cmu", "tencent-ai"), ("cmu",), ())[i % 3],
            source_feed=("arXiv.org AI", "arxiv.org  ai", None)[i % 3],
            identifiers=((Identifier("doi", f"10.1000/X{i}"),) if i % 5 == 0 else ()),
        ))
    # the same paper listed twice, and one without any optional field
    papers += [papers[0], Paper(title="Bare", line=999)]
    profile = Profile(
        name='José "Pepe" Núñez \\ \t', layout="scored-profile-page",
        name_as_printed="Núñez, José", alternate_names=("J. Núñez", "José \x01 N"),
        category_code="LG",
        metrics=Metrics(h_index=7, paper_count=9, citation_count=1204,
                        novelty_score=Decimal("40"), ai_score=Decimal("62.50")),
        listed_paper_count=len(papers), papers=tuple(papers),
        identifiers=(Identifier("orcid", "0000-0002-1825-0097"),),
    )
    docs = [SourceDocument("dir\\crafted.txt", "ab" * 32, AS_OF, profile),
            SourceDocument("x.jsonl", "cd" * 32, AS_OF, Profile(name="Empty", layout="jsonl"),
                           line=3)]
    page = (
        "Ada Lovelace\n\nLG\nh-index3\n1paper\n1,204citations\nNovelty40%\nAI Score39\n\n"
        "1 Papers\n\n92.3LGMar 13Code\nNotes on the $\\mathcal{A}$nalytical \"Engine\"\t\u00e9\n\n"
        "Charles Babbage, Ada Lovelace et al. · cmu\n\n"
        "As Smith et al. note \\ \"quoted\" \u2014 see https://github.com/ada/engine.\n"
    )
    docs.append(SourceDocument("ada.txt", "ef" * 32, AS_OF,
                               parse_profile_page(page, path="ada.txt", as_of=AS_OF)))
    record = {"name": "Lovelace, Ada", "papers": [
        {"title": "Ctl \u0001\u001f\u007f \"q\" \\ é\U0001f600", "abstract": "a\tb\nc",
         "byline": "A \"B\", C\\D", "category": "LG", "organisations": ["cmu"],
         "source_feed": "Feed \u0085"}]}
    data = json.dumps(record).encode() + b"\n"
    for item in parse_jsonl(data, path="r.jsonl", as_of=AS_OF):
        assert isinstance(item, SourceDocument), item
        docs.append(item)
    return docs


def mapped(doc: SourceDocument) -> MappedDocument:
    return map_document(doc, MINTER, ingested_at=INGESTED_AT)


@pytest.mark.parametrize("doc", crafted_documents(), ids=lambda d: d.path)
def test_nquads_are_the_first_snapshot_bytes(doc: SourceDocument) -> None:
    m = mapped(doc)
    assert m.nquads() == reference_nquads(m)


def test_nquads_of_empty_and_partial_documents() -> None:
    m = MappedDocument(graph="https://ex.org/id/document/x", person="https://ex.org/id/p",
                       person_key="p", layout="jsonl", as_of=AS_OF, sha256="x")
    assert m.nquads() == reference_nquads(m) == b""
    m.metrics["<https://ex.org/m>"] = '"1"'
    assert m.nquads() == reference_nquads(m)
    m.description.append(("<https://ex.org/s>", "<https://ex.org/p>", '"d"'))
    assert m.nquads() == reference_nquads(m)
    assert m.nquads().count(b"\n") == 3


_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30)


@settings(max_examples=80, deadline=None)
@given(name=_text, titles=st.lists(_text, min_size=1, max_size=4),
       authors=st.lists(_text, max_size=4), abstract=_text, feed=_text)
def test_nquads_of_generated_documents(name: str, titles: list[str], authors: list[str],
                                       abstract: str, feed: str) -> None:
    papers = tuple(
        _paper(i, t, abstract=abstract, authors=(*authors, name), byline=", ".join(authors),
               category_code="LG", organisations=("cmu",), source_feed=feed,
               byline_complete=bool(i % 2))
        for i, t in enumerate(titles))
    profile = Profile(name=name, layout="jsonl", papers=papers, category_code="LG",
                      metrics=Metrics(h_index=1, ai_score=Decimal("2.5")))
    m = mapped(SourceDocument("g.jsonl", "00" * 32, AS_OF, profile, line=1))
    assert m.nquads() == reference_nquads(m)


# --- the mapping itself is unchanged --------------------------------------------------------

#: SHA-256 over the crafted documents' N-Quads and MappedDocument fields, as the mapper wrote
#: them before the speed-ups (commit 6b74522, computed with that commit's kg/), with the one
#: change of the data model of 2026-12-07: an authorship's person is skg:person, not
#: schema:author (with kg.mapping.mapper._PERSON set back to schema:author the digest was
#: ef0c830338116b8aa1614b48e94ed4766dbe60964b36843399382034f8d5cec2, the value before).
#: A change here is a change of the mapping contract, never a speed-up.
GOLDEN = "935a2caa9035d9eadd2ef7f56a46c22f9acd8008ba63b9bb2f00ccee18899418"
FIELDS = ("graph", "person", "person_key", "layout", "as_of", "sha256", "label",
          "statements", "metrics", "observations", "description", "bylines")


def mapping_digest(docs: list[SourceDocument]) -> str:
    digest = hashlib.sha256()
    for doc in docs:
        m = mapped(doc)
        digest.update(reference_nquads(m))
        for name in FIELDS:
            digest.update(repr(getattr(m, name)).encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()


def test_mapping_of_crafted_documents_is_unchanged() -> None:
    assert mapping_digest(crafted_documents()) == GOLDEN


def test_shared_terms_are_described_once_but_named_by_every_paper() -> None:
    doc = crafted_documents()[0]
    m = mapped(doc)
    assert len(m.statements) == len(set(m.statements))
    cmu = "<https://ex.org/id/organization/cmu>"
    source_org = "<https://schema.org/sourceOrganization>"
    papers_with_cmu = {paper_iri for paper_iri, p, o in m.statements
                       if p == source_org and o == cmu}
    assert len(papers_with_cmu) == sum(
        "cmu" in p.organisations for p in dict.fromkeys(doc.profile.papers))
    assert sum(1 for s, _, _ in m.statements if s == cmu) == 2  # a type and a name
    # two spellings of one feed: one IRI, both names stated
    feed = MINTER.source_feed("arXiv.org AI")
    assert feed == MINTER.source_feed("arxiv.org  ai")
    names = {o for s, p, o in m.statements if s == f"<{feed}>" and p == "<https://schema.org/name>"}
    assert names == {literal("arXiv.org AI"), literal("arxiv.org  ai")}


# --- kg.parse.detect ------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


@pytest.mark.parametrize("byte", range(1, 0x80))
def test_control_characters_are_found_as_before(tmp_path: Path, byte: int) -> None:
    # non-ASCII text before the character: its byte offset is not its character offset
    data = ("Ada L\u00f6velace \u2014 \U0001f600\n\nLG\nh-index3\n1paper\n1citations\n"
            f"Novelty40%\nAI Score39{chr(byte)}\n\n0 Papers\n").encode()
    path = tmp_path / "a.txt"
    path.write_bytes(data)
    (result,) = read_documents(path, as_of=AS_OF)
    if _CONTROL.search(chr(byte)):
        assert isinstance(result, DocumentError)
        offset = data.index(b"AI Score39") + len(b"AI Score39")
        assert str(result) == (f"{path}:8: binary file: control character U+{byte:04X} "
                               f"at byte offset {offset}")
    else:
        assert "control character" not in str(result)


def reference_is_collaborating_authors(text: str) -> bool:
    non_blank = (line.strip() for line in split_lines(text) if line.strip())
    return list(islice(non_blank, 2)) == ["Goto", "Collaborating Authors"]


@pytest.mark.parametrize("text", [
    "Goto\n\nCollaborating Authors\n", "\ufeffGoto\r\n\r\nCollaborating Authors\r\n",
    "\n \t\n\u3000Goto \x0c\n\x85Collaborating Authors\u00a0\n", "Goto\rCollaborating Authors",
    "Goto Tanaka\n\nLG\n", "Goto\n\nSomething else\n", "\ufeff\ufeffGoto\nCollaborating Authors",
    "Goto", "Gotoh\nCollaborating Authors", " Goto\u2028Collaborating Authors\n",
    "Ada Lovelace\n\nLG\n", "", "\n\n", "Go\nto\nCollaborating Authors",
])
def test_layout_is_told_apart_as_before(text: str) -> None:
    assert detect._is_collaborating_authors(text) == reference_is_collaborating_authors(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Goto", "Collaborating Authors", "", " ", "\u3000", "\ufeff",
                                 "\x85", "\x0c", "Goto ", "x", "\r", "\r\n", "\n"]),
                max_size=8))
def test_layout_check_on_generated_heads(parts: list[str]) -> None:
    text = "\n".join(parts)
    assert detect._is_collaborating_authors(text) == reference_is_collaborating_authors(text)


# --- MappedDocument.pack() / unpack() ------------------------------------------------------

_PACKED_FIELDS = ("statements", "metrics", "observations", "description", "bylines")


def _assert_pack_round_trip(m: MappedDocument) -> None:
    """What a worker sends (packed) holds the same document as what it mapped."""
    import pickle

    before = {name: getattr(m, name) for name in _PACKED_FIELDS}
    quads, nquads = m.first_snapshot_quads(), m.nquads()
    m.pack()
    assert m.first_snapshot_nquads == nquads and m.first_snapshot_quads() == quads
    assert all(not getattr(m, name) for name in _PACKED_FIELDS)  # nothing sent twice
    received = pickle.loads(pickle.dumps(m))
    received.unpack()
    after = {name: getattr(received, name) for name in _PACKED_FIELDS}
    assert after == before
    assert list(after["metrics"]) == list(before["metrics"])  # and in the same order
    assert received.nquads() == nquads and received.packed is None
    received.unpack()  # a second call changes nothing
    assert {name: getattr(received, name) for name in _PACKED_FIELDS} == before


@pytest.mark.parametrize("doc", crafted_documents(), ids=lambda d: d.path)
def test_a_packed_document_unpacks_to_the_same_triples(doc: SourceDocument) -> None:
    _assert_pack_round_trip(mapped(doc))


@settings(max_examples=60, deadline=None)
@given(name=_text, titles=st.lists(_text, min_size=1, max_size=4),
       authors=st.lists(_text, max_size=4), abstract=_text)
def test_generated_documents_unpack_to_the_same_triples(name: str, titles: list[str],
                                                         authors: list[str],
                                                         abstract: str) -> None:
    papers = tuple(_paper(i, t, abstract=abstract, authors=(*authors, name),
                          byline=", ".join(authors), organisations=("cmu",))
                   for i, t in enumerate(titles))
    profile = Profile(name=name, layout="jsonl", papers=papers,
                      metrics=Metrics(h_index=1, ai_score=Decimal("2.5")))
    _assert_pack_round_trip(mapped(SourceDocument("g.jsonl", "00" * 32, AS_OF, profile,
                                                  line=1)))


def test_unpack_refuses_n_quads_that_do_not_match_the_counts() -> None:
    m = mapped(crafted_documents()[0])
    m.pack()
    m.first_snapshot_nquads += b'<https://ex.org/s> <https://ex.org/p> "extra" .\n'
    with pytest.raises(ValueError, match="N-Quads lines"):
        m.unpack()
