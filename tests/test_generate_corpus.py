"""Tests of the synthetic corpus generator (benchmarks/generate_corpus.py), not of the benchmark.

The generated documents must have exactly the layouts of the seed pages, so the checks
below read them with the block structure the spec describes, independently of the
project's parser.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import generate_corpus as gc  # noqa: E402

AS_OF = dt.date(2026, 11, 21)
MONTHS = "|".join(gc.MONTHS)
CODES = "|".join(gc.CATEGORY_CODES)
DATE_LINE = re.compile(
    rf"^(?P<score>\d+\.\d)?(?P<code>{CODES})(?P<month>{MONTHS}) (?P<day>\d{{1,2}})"
    rf"(?:, (?P<year>\d{{4}}))?(?P<flag>Code)?$"
)
METRIC_LINES = (
    re.compile(rf"^({CODES})$"),
    re.compile(r"^h-index\d+$"),
    re.compile(r"^(1paper|(\d{1,3}(,\d{3})*)papers)$"),
    re.compile(r"^(1citation|(\d{1,3}(,\d{3})*)citations)$"),
    re.compile(r"^Novelty\d+%$"),
    re.compile(r"^AI Score\d+$"),
)
LAYOUT_B_HEADER = re.compile(r"^Goto\n\nCollaborating Authors\n\n\u00a0[^\n,]+, [^\n,]+$")


def papers_of_layout_a(text: str) -> Iterator[tuple[str, str, str, str]]:
    """(date line, title, byline, abstract) of each paper; asserts the page's shape."""
    blocks = text.split("\n\n")
    name, metrics, listed = blocks[:3]
    assert "\n" not in name and name.strip() == name
    assert all(
        pattern.match(line) for pattern, line in zip(METRIC_LINES, metrics.split("\n"), strict=True)
    )
    count = int(listed.removesuffix(" Papers"))
    assert len(blocks) == 3 + 3 * count
    for index in range(3, len(blocks), 3):
        date_line, title = blocks[index].split("\n")
        byline, abstract = blocks[index + 1], blocks[index + 2]
        assert DATE_LINE.match(date_line), date_line
        assert "\n" not in byline and "\n" not in abstract
        yield date_line, title, byline, abstract


def papers_of_layout_b(text: str) -> Iterator[tuple[str, str, str]]:
    """(title, source feed, abstract) of each paper; asserts the listing's shape."""
    header, *blocks = text.split("\n\n\n")
    assert LAYOUT_B_HEADER.match(header), header[:80]
    assert blocks
    for block in blocks:
        title, feed, abstract = block.split("\n\n")
        assert feed.startswith("arXiv.org ")
        assert "\n" not in title and "\n" not in abstract
        yield title, feed, abstract


def is_layout_b(text: str) -> bool:
    """True for a "Collaborating Authors" listing."""
    return text.startswith("Goto\n")


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    """A 300-profile corpus, in memory."""
    return list(gc.iter_documents(300, seed=1, as_of=AS_OF))


@pytest.fixture(scope="module")
def layout_a_papers(corpus: list[tuple[str, str]]) -> list[tuple[str, str, str, str, str]]:
    """(owner, date line, title, byline, abstract) of every layout A listing."""
    return [
        (text.split("\n", 1)[0], *paper)
        for _, text in corpus
        if not is_layout_b(text)
        for paper in papers_of_layout_a(text)
    ]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = gc.generate(40, tmp_path / "one", seed=5)
    second = gc.generate(40, tmp_path / "two", seed=5)
    files_one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.txt"))
    files_two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.txt"))
    assert files_one == files_two and len(files_one) == 40
    for rel in files_one:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    assert (
        first.bytes
        == second.bytes
        == sum(p.stat().st_size for p in (tmp_path / "one").rglob("*.txt"))
    )


def test_other_seed_other_corpus() -> None:
    assert list(gc.iter_documents(10, seed=1)) != list(gc.iter_documents(10, seed=2))


def test_shards_hold_at_most_shard_size_files(tmp_path: Path) -> None:
    gc.generate(25, tmp_path, seed=3, shard_size=10)
    shards = sorted(p for p in tmp_path.iterdir())
    assert [p.name for p in shards] == ["0000", "0001", "0002"]
    assert [len(list(p.iterdir())) for p in shards] == [10, 10, 5]
    assert gc.SHARD_SIZE == 1000
    assert gc.relative_path(999, "x", 5000).startswith("0000/000999_")
    assert gc.relative_path(1000, "x", 5000).startswith("0001/001000_")


def test_generate_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(FileExistsError):
        gc.generate(1, tmp_path)


def test_cli_writes_the_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gc.main(["--profiles", "12", "--out", str(tmp_path / "c"), "--seed", "9"]) == 0
    assert len(list((tmp_path / "c").rglob("*.txt"))) == 12
    assert "wrote 12 documents" in capsys.readouterr().out


def test_every_document_has_a_seed_layout(corpus: list[tuple[str, str]]) -> None:
    layout_b = 0
    for _, text in corpus:
        if is_layout_b(text):
            layout_b += 1
            assert len(list(papers_of_layout_b(text))) >= gc.MIN_PAPERS
        else:
            assert gc.MIN_PAPERS <= len(list(papers_of_layout_a(text))) <= gc.MAX_PAPERS
    assert 10 <= layout_b <= 60  # about 10% of 300


def test_no_document_ends_with_a_newline(corpus: list[tuple[str, str]]) -> None:
    assert not any(text.endswith("\n") for _, text in corpus)
    assert any(is_layout_b(text) for _, text in corpus)


def test_layout_b_name_is_reversed_after_a_no_break_space(corpus: list[tuple[str, str]]) -> None:
    names = [text.split("\n")[4] for _, text in corpus if is_layout_b(text)]
    assert names and all(name.startswith("\u00a0") and ", " in name for name in names)


def test_owner_names_are_unique(corpus: list[tuple[str, str]]) -> None:
    owners = [
        gc._fold(text.split("\n")[4].strip("\u00a0"))
        if is_layout_b(text)
        else gc._fold(text.split("\n", 1)[0])
        for _, text in corpus
    ]
    reversed_b = [" ".join(reversed(o.split(", "))) if ", " in o else o for o in owners]
    assert len(set(reversed_b)) == len(corpus)


def test_titles_recur_across_profiles(corpus: list[tuple[str, str]]) -> None:
    titles: Counter[str] = Counter()
    for _, text in corpus:
        papers = papers_of_layout_b(text) if is_layout_b(text) else papers_of_layout_a(text)
        titles.update({paper[0] if is_layout_b(text) else paper[1] for paper in papers})
    assert sum(1 for n in titles.values() if n >= 2) > 100
    assert max(titles.values()) >= 4


def test_shared_paper_shows_different_bylines(layout_a_papers: list[tuple[str, ...]]) -> None:
    bylines: dict[str, set[str]] = {}
    for _, _, title, byline, _ in layout_a_papers:
        bylines.setdefault(title, set()).add(byline)
    assert any(len(shown) > 1 for shown in bylines.values())


def test_bylines_are_mostly_truncated(layout_a_papers: list[tuple[str, ...]]) -> None:
    truncated = [p[3].split(" \u00b7 ")[0].endswith(" et al.") for p in layout_a_papers]
    assert 0.6 <= sum(truncated) / len(truncated) <= 0.8


def test_org_suffix_occurs(layout_a_papers: list[tuple[str, ...]]) -> None:
    suffixes = [p[3].split(" \u00b7 ")[1] for p in layout_a_papers if " \u00b7 " in p[3]]
    assert suffixes and all(re.fullmatch(r"[a-z-]+(, [a-z-]+)*", s) for s in suffixes)


def test_date_line_variants_occur(layout_a_papers: list[tuple[str, ...]]) -> None:
    matches = [DATE_LINE.match(p[1]) for p in layout_a_papers]
    assert any(m and m["score"] for m in matches)
    assert any(m and m["flag"] for m in matches)
    assert any(m and m["year"] is None for m in matches)
    assert any(m and m["year"] for m in matches)
    assert {m["code"] for m in matches if m} == set(gc.CATEGORY_CODES)


def resolve_year_less(month: int, day: int, as_of: dt.date) -> dt.date:
    """The latest such month/day not after ``as_of``; ValueError when it is no date."""
    candidate = dt.date(as_of.year, month, day)
    return candidate if candidate <= as_of else dt.date(as_of.year - 1, month, day)


def test_every_year_less_date_is_valid(layout_a_papers: list[tuple[str, ...]]) -> None:
    for _, date_line, *_ in layout_a_papers:
        match = DATE_LINE.match(date_line)
        assert match
        month = gc.MONTHS.index(match["month"]) + 1
        if match["year"] is None:
            resolve_year_less(month, int(match["day"]), AS_OF)
        else:
            assert dt.date(int(match["year"]), month, int(match["day"])) <= AS_OF


def test_year_less_leap_day_only_in_a_leap_as_of_year() -> None:
    import random

    leap = dt.date(2024, 2, 29)
    assert gc.render_date(leap, dt.date(2025, 1, 10), random.Random(0)) == "Feb 29, 2024"
    assert resolve_year_less(2, 29, dt.date(2024, 3, 1)) == leap


def test_owner_appears_in_some_bylines_in_another_capitalisation(
    layout_a_papers: list[tuple[str, ...]],
) -> None:
    shown = exact = 0
    variants = 0
    for owner, _, _, byline, _ in layout_a_papers:
        names = byline.split(" \u00b7 ")[0].removesuffix(" et al.").split(", ")
        exact += owner in names
        variants += any(n != owner and n.casefold() == owner.casefold() for n in names)
        shown += any(n.casefold() == owner.casefold() for n in names)
    assert 0.3 < shown / len(layout_a_papers) < 0.95
    assert exact and variants


def test_metrics_use_separators_and_singulars(corpus: list[tuple[str, str]]) -> None:
    text = "\n".join(t for _, t in corpus if not is_layout_b(t))
    assert re.search(r"^\d{1,3},\d{3}citations$", text, re.M)
    assert re.search(r"^1paper$", text, re.M)
    assert re.search(r"^1citation$", text, re.M)


def test_abstracts_are_long_and_carry_special_characters(
    layout_a_papers: list[tuple[str, ...]],
) -> None:
    abstracts = [p[4] for p in layout_a_papers]
    assert all(140 <= len(a.split()) <= 360 for a in abstracts)
    joined = "\n".join(abstracts)
    for needle in (
        " et al. (",
        "https://github.com/",
        "$^{2}$",
        '"',
        "\\",
        "&",
        "<",
        ">",
        "é",
        "ü",
        "\u2014",
    ):
        assert needle in joined, needle


def test_titles_carry_special_characters_occasionally(
    layout_a_papers: list[tuple[str, ...]],
) -> None:
    titles = {p[2] for p in layout_a_papers}
    special = [t for t in titles if re.search(r"[$\"'&<>\\\u00e9\u00fc\u2014]", t)]
    assert 0 < len(special) < len(titles) * 0.2


def test_distinct_papers_have_distinct_title_keys() -> None:
    plan = gc.CorpusPlan(200, 1, 0.1, AS_OF)
    titles = [gc.make_paper(plan, n, "Smith").title for n in range(3000)]
    assert len({t.casefold() for t in titles}) == 3000


def test_project_parser_reads_every_generated_document(tmp_path: Path) -> None:
    from kg.errors import DocumentError
    from kg.parse.detect import read_documents

    gc.generate(200, tmp_path, seed=11, as_of=AS_OF)
    files = sorted(tmp_path.rglob("*.txt"))
    assert len(files) == 200
    for path in files:
        results = list(read_documents(path, as_of=AS_OF))
        errors = [r for r in results if isinstance(r, DocumentError)]
        assert not errors, errors
        (document,) = results
        assert not isinstance(document, DocumentError)
        text = path.read_text(encoding="utf-8")
        if is_layout_b(text):
            titles = [paper[0] for paper in papers_of_layout_b(text)]
        else:
            titles = [paper[1] for paper in papers_of_layout_a(text)]
            assert document.profile.name == text.split("\n", 1)[0]
        assert [paper.title for paper in document.profile.papers] == titles
