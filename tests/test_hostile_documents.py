"""Hostile documents: nothing but a DocumentError or a valid document, and nothing of a
rejected document in the store.

The cases come from ``benchmarks/hostile_documents.py`` (shared with the long fuzzing run,
``benchmarks/fuzz_parsers.py``). Every accepted document is written both ways ingest
writes (bulk loader, SPARQL update); every rejection must name the file and a line (only an
empty document has no line to name).
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import random
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import hostile_documents as hd  # noqa: E402
from kg.errors import DocumentError  # noqa: E402
from kg.ingest import Ingestor  # noqa: E402
from kg.mapping.iris import IriMinter  # noqa: E402
from kg.output.ntriples import is_valid_iri  # noqa: E402
from kg.parse.detect import read_documents  # noqa: E402
from kg.parse.records import SourceDocument  # noqa: E402
from kg.storage.store import KnowledgeStore  # noqa: E402

AS_OF = hd.AS_OF
FAST = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BASES = hd.base_documents(24, seed=5)
PAGE = next(data for suffix, data in BASES if suffix == ".txt" and not data.startswith(b"Goto"))


def check(tmp_path: Path, data: bytes, suffix: str = ".txt", name: str = "doc") -> hd.Outcome:
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(data)
    return hd.check_file(path)


def assert_clean(outcome: hd.Outcome) -> None:
    assert not outcome.problems, "\n".join(outcome.problems)


def with_abstract(text: str) -> bytes:
    """The sample page with ``text`` appended to its first paper's abstract."""
    lines = PAGE.decode("utf-8").split("\n")
    dates = [i for i, line in enumerate(lines) if hd._DATE_LINE.match(line.encode())]
    assert dates, "the base page has papers"
    lines[dates[0] + 5] += " " + text
    return "\n".join(lines).encode("utf-8")


# --- faults found by the fuzzing run, one test each ------------------------------------------


@pytest.mark.parametrize(("marker", "line"), [("h-index", "h-index" + "9" * 4301),
                                             ("citation", "9" * 5000 + "citations"),
                                             (" Papers", "9" * 100_000 + " Papers")])
def test_a_count_too_long_to_convert_is_a_document_error(
        tmp_path: Path, marker: str, line: str) -> None:
    lines = PAGE.decode("utf-8").split("\n")
    index = next(i for i, old in enumerate(lines) if marker in old)
    lines[index] = line
    outcome = check(tmp_path, "\n".join(lines).encode("utf-8"))
    assert_clean(outcome)
    ((number, reason),) = outcome.rejections
    assert number == index + 1 and "digits" in reason


@pytest.mark.parametrize("url", hd.BAD_URLS)
def test_a_url_in_an_abstract_that_is_no_iri_never_stops_the_ingest(
        tmp_path: Path, url: str) -> None:
    outcome = check(tmp_path, with_abstract(f"code at {url} and at {url}."))
    assert_clean(outcome)
    assert outcome.accepted == [None]


@pytest.mark.parametrize("record", [
    {"name": "Ada", "papers": [{"title": "t", "code_repositories": ["https://a]b/c"]}]},
    {"name": "Ada", "identifiers": {"profile_url": "https://profiles.example.org/a%zz"}},
    {"name": "Ada", "identifiers": {"profile_url": "https://profiles.example.org:x/a"}},
])
def test_record_urls_that_are_no_iris_never_stop_the_ingest(
        tmp_path: Path, record: dict[str, object]) -> None:
    assert_clean(check(tmp_path, json.dumps(record).encode(), ".jsonl"))


@given(st.text(st.characters(codec="utf-8") | st.sampled_from("%[]:@#?/ "), max_size=30))
@FAST
def test_what_is_valid_iri_calls_an_iri_the_store_accepts(text: str) -> None:
    for candidate in (text, "https://github.com/" + text, "https://" + text, "urn:" + text):
        if is_valid_iri(candidate):
            ox.NamedNode(candidate)  # raises when pyoxigraph disagrees
            store = KnowledgeStore.open(None)
            store.load_nquads(f"<http://s> <http://p> <{candidate}> .\n")
            store.update(f"INSERT DATA {{ <http://s> <http://p> <{candidate}> }}")


@pytest.mark.parametrize("iri", ["https://github.com/hkust-nlp/Laser", "http://127.0.0.1:8000/id/",
                                 "https://w3id.org/scholarkg/id/", "http://[::1]:8000/x",
                                 "https://example.org/a%20b?q=1&r=é#frag", "urn:isbn:0451450523",
                                 "https://user:pw@host/p;x=1", "https://dx.doi.org/10.1000/(x)"])
def test_ordinary_iris_stay_valid(iri: str) -> None:
    assert is_valid_iri(iri)
    ox.NamedNode(iri)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\ud83d", "\\ude00b"])
def test_a_lone_surrogate_in_a_record_is_a_document_error(tmp_path: Path, escape: str) -> None:
    line = ('{"name": "Ada Lovelace", "papers": [{"title": "x' + escape + '"}]}').encode()
    outcome = check(tmp_path, b'{"name": "Ann Lee"}\n' + line + b"\n", ".jsonl")
    assert_clean(outcome)
    assert outcome.accepted == [1]
    ((number, reason),) = outcome.rejections
    assert number == 2 and "surrogate" in reason and "papers/0/title" in reason


def test_a_surrogate_pair_escape_is_one_character(tmp_path: Path) -> None:
    outcome = check(tmp_path, b'{"name": "Ada \\ud83d\\ude00 Lovelace"}\n', ".jsonl")
    assert_clean(outcome)
    assert outcome.accepted == [1]


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\n\n", "\u00a0\n".encode(),
                                  "\u3000\u2028".encode()])
def test_a_page_of_only_a_bom_or_unicode_spaces_is_empty(tmp_path: Path, data: bytes) -> None:
    outcome = check(tmp_path, data)
    assert_clean(outcome)
    ((_, reason),) = outcome.rejections
    assert reason.startswith("empty document")


@pytest.mark.parametrize("layout", ["A", "B", "jsonl"])
def test_a_name_too_long_for_an_iri_is_a_document_error(tmp_path: Path, layout: str) -> None:
    name = "Ann Lee " * 100_000  # 800 kB: its IRI would be repeated in every statement
    if layout == "A":
        data, suffix = ("\n".join([name, *PAGE.decode().split("\n")[1:]])).encode(), ".txt"
    elif layout == "B":
        data, suffix = f"Goto\n\nCollaborating Authors\n\n\u00a0{name}\n".encode(), ".txt"
    else:
        data, suffix = json.dumps({"name": name}).encode(), ".jsonl"
    started = time.perf_counter()
    outcome = check(tmp_path, data, suffix)
    assert time.perf_counter() - started < 5
    assert_clean(outcome)
    ((number, reason),) = outcome.rejections
    assert number == (5 if layout == "B" else 1)
    assert "characters" in reason or "maxLength" in reason


def test_a_doi_too_long_for_an_iri_is_a_document_error(tmp_path: Path) -> None:
    """A paper IRI is made from its DOI and repeated in every authorship: a 200 kB DOI with
    2,000 authors would be 4 GB of statements."""
    record = {"name": "Ann Lee", "papers": [{
        "title": "t", "identifiers": {"doi": "10.1000/" + "x" * 200_000},
        "authors": [f"Author {i}" for i in range(2000)]}]}
    started = time.perf_counter()
    outcome = check(tmp_path, json.dumps(record).encode(), ".jsonl")
    assert time.perf_counter() - started < 5
    assert_clean(outcome)
    ((number, reason),) = outcome.rejections
    assert number == 1 and "identifiers/doi" in reason and "maxLength" in reason


def test_the_record_schema_limits_names_like_the_text_layouts() -> None:
    from kg.parse.jsonl import load_profile_schema
    from kg.parse.profile_page import MAX_NAME_LENGTH

    assert load_profile_schema()["properties"]["name"]["maxLength"] == MAX_NAME_LENGTH


def test_a_huge_title_is_read_in_linear_time(tmp_path: Path) -> None:
    lines = PAGE.decode().split("\n")
    first = next(i for i, line in enumerate(lines) if hd._DATE_LINE.match(line.encode()))
    timings = []
    for size in (500_000, 5_000_000):
        lines[first + 1] = "T" * size
        started = time.perf_counter()
        outcome = check(tmp_path, "\n".join(lines).encode(), name=f"t{size}")
        timings.append(time.perf_counter() - started)
        assert_clean(outcome)
        assert outcome.accepted == [None]
    assert timings[1] < 5 + 20 * timings[0], timings


def test_a_document_error_crosses_process_boundaries() -> None:
    """Rejections travel from the mapping workers to the writer by pickle."""
    error = DocumentError("a.txt", 7, "expected 'h-index<int>', found 'x'")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.reason, str(copy)) == (
        error.path, error.line, error.reason, str(error))


def test_a_parallel_ingest_with_a_rejected_document_finishes(tmp_path: Path) -> None:
    """``kg ingest`` with worker processes used to hang for ever on the first rejection."""
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "good.txt").write_bytes(PAGE)
    (corpus / "bad.txt").write_bytes(b"not a profile\n")
    proc = subprocess.run([sys.executable, "-m", "kg.cli", "ingest", str(corpus), "--store",
                           str(tmp_path / "store"), "--jobs", "2", "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"rejected: {corpus / 'bad.txt'}:1: expected" in proc.stderr
    assert "1 ingested, 0 unchanged, 1 rejected" in proc.stderr


# --- properties ------------------------------------------------------------------------------


@given(st.binary(max_size=3000), st.sampled_from([".txt", ".jsonl"]))
@FAST
def test_any_bytes_are_a_document_or_a_document_error(data: bytes, suffix: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        assert_clean(check(Path(tmp), data, suffix))


@given(st.sampled_from(sorted(set(hd.TEXT_MUTATIONS) - hd.HUGE_MUTATIONS)),
       st.integers(0, len(BASES) - 1), st.randoms(use_true_random=False))
@FAST
def test_mutated_documents_are_documents_or_document_errors(
        mutation: str, base: int, rng: random.Random) -> None:
    import tempfile

    suffix, data = BASES[base]
    data = hd.TEXT_MUTATIONS[mutation](data, rng)
    with tempfile.TemporaryDirectory() as tmp:
        assert_clean(check(Path(tmp), data, suffix))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["name", "papers", "title", "metrics", "h_index",
                                       "identifiers", "orcid", "as_of", "date", "byline",
                                       "authors", "abstract", "x"]), children, max_size=4),
    max_leaves=20)


@given(st.lists(JSON, min_size=1, max_size=3))
@FAST
def test_any_json_values_are_records_or_document_errors(values: list[object]) -> None:
    import tempfile

    data = b"\n".join(json.dumps(v).encode() for v in values)
    with tempfile.TemporaryDirectory() as tmp:
        assert_clean(check(Path(tmp), data, ".jsonl"))


@given(st.integers(0, 10**9))
@settings(max_examples=60, deadline=None, database=None)
def test_generated_cases_are_documents_or_document_errors(number: int) -> None:
    import tempfile

    case = hd.make_case(number, BASES, seed=5, huge=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / case.name
        path.write_bytes(case.data)
        assert_clean(hd.check_file(path, mutation=case.mutation))


# --- the store holds exactly the valid documents ---------------------------------------------


def _ingest(paths: list[Path]) -> KnowledgeStore:
    store = KnowledgeStore.open(None)
    items = (item for path in paths for item in read_documents(path, as_of=AS_OF))
    Ingestor(store, IriMinter(), ingested_at=hd.INGESTED_AT, batch_quads=300).ingest(items)
    return store


def test_a_batch_of_valid_and_hostile_documents_stores_only_the_valid_ones(
        tmp_path: Path) -> None:
    mixed, valid = tmp_path / "mixed", tmp_path / "valid"
    mixed.mkdir()
    valid.mkdir()
    accepted = rejected = 0
    for number in range(80):
        case = hd.make_case(number, BASES, seed=11, huge=False)
        path = mixed / case.name
        path.write_bytes(case.data)
        outcome = hd.check_file(path)
        assert_clean(outcome)
        accepted += len(outcome.accepted)
        rejected += len(outcome.rejections)
        if path.suffix == ".jsonl":  # rejected records become blank lines: same line numbers
            lines = case.data.split(b"\n")
            keep = {line for line in outcome.accepted if line is not None}
            kept = [line if number + 1 in keep else b"" for number, line in enumerate(lines)]
            if keep:
                (valid / case.name).write_bytes(b"\n".join(kept))
        elif outcome.accepted:
            (valid / case.name).write_bytes(case.data)
    assert accepted > 10 and rejected > 10
    both = _ingest(sorted(mixed.iterdir()))
    only_valid = _ingest(sorted(valid.iterdir()))
    graphs = {g for g in both.named_graphs() if "/document/" in g}
    assert len(graphs) == len({g for g in only_valid.named_graphs() if "/document/" in g})
    assert sorted(both.quad_lines(all_graphs=True)) == sorted(
        only_valid.quad_lines(all_graphs=True))


def test_rejected_documents_leave_nothing_even_in_a_batch_of_first_snapshots(
        tmp_path: Path) -> None:
    """A bad document between good ones of new persons (the bulk-loaded batch) is left out,
    and the good ones around it are all there."""
    (tmp_path / "a.txt").write_bytes(PAGE)
    (tmp_path / "b.txt").write_bytes(with_abstract("see https://github.com/a%zz"))
    (tmp_path / "c.jsonl").write_bytes(b'{"name": "Zed \\ud800"}\n{"name": "Ok Person"}\n')
    store = KnowledgeStore.open(None)
    items = [item for path in sorted(tmp_path.iterdir())
             for item in read_documents(path, as_of=AS_OF)]
    report = Ingestor(store, IriMinter(), ingested_at=hd.INGESTED_AT).ingest(items)
    assert len(report.rejected) == 1 and report.rejected[0].line == 1
    docs = [i for i in items if isinstance(i, SourceDocument)]
    assert len(report.ingested) == len(docs) == 3
    assert all(isinstance(e, DocumentError) for e in report.rejected)


def test_markup_pages_are_valid_documents(tmp_path: Path) -> None:
    outcome = check(tmp_path, hd.markup_page().encode())
    assert_clean(outcome)
    assert outcome.accepted == [None]
    assert dt.date(2026, 3, 13) <= AS_OF
