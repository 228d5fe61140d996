"""kg ingest tells the truth about its input: one progress bar in documents (JSON Lines
records each count) with bytes and rate, a warning for every file it leaves out and why,
and exit 1 when there is nothing to ingest."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli import main
from tests.sample_data import EXAMPLES

RECORDS = Path(__file__).parent / "data" / "linking" / "identified.jsonl"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def ingest(runner: CliRunner, store: Path, *paths: Path, progress: bool = False):
    args = ["ingest", *map(str, paths), "--as-of", "2026-11-21", "--store", str(store),
            "--jobs", "1", "--progress" if progress else "--no-progress"]
    return runner.invoke(main, args)


def records_in(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def test_skipped_files_are_named_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLES, folder)
    (folder / "notes.md").write_text("what these profiles are\n")
    (folder / "table.csv").write_text("a,b\n")
    (folder / ".DS_Store").write_bytes(b"\x00")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: x\n")
    (folder / ".git" / "config.txt").write_text("x\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "p.txt").write_text("x\n")
    (folder / "linked").symlink_to(tmp_path / "elsewhere")
    result = ingest(runner, tmp_path / "store", folder)
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped: ")]
    assert skipped == [
        f"skipped: {folder / '.DS_Store'}: hidden file",
        f"skipped: {folder / '.git'}: hidden folder",
        f"skipped: {folder / 'linked'}: a link to a folder (not followed)",
        f"skipped: {folder / 'notes.md'}: not a .txt or .jsonl file",
        f"skipped: {folder / 'table.csv'}: not a .txt or .jsonl file",
    ]
    assert "4 ingested" in result.output


@pytest.mark.parametrize("content", [None, {"notes.md": "x"}, {"blank.jsonl": "\n  \n"}])
def test_an_input_without_documents_exits_1(runner: CliRunner, tmp_path: Path,
                                            content: dict[str, str] | None) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in (content or {}).items():
        (folder / name).write_text(text)
    result = ingest(runner, tmp_path / "store", folder)
    assert result.exit_code == 1
    assert f"Error: no documents to ingest in {folder}" in result.output
    assert "ingested," not in result.output
    assert not (tmp_path / "store").exists()  # nothing was opened or written


def test_one_bar_in_documents_with_bytes_and_rate(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLES, folder)
    shutil.copy(RECORDS, folder / "records.jsonl")
    documents = len(list(EXAMPLES.glob("*.txt"))) + records_in(RECORDS)
    assert records_in(RECORDS) > 1
    total_bytes = sum(p.stat().st_size for p in folder.iterdir())
    result = ingest(runner, tmp_path / "store", folder, progress=True)
    assert result.exit_code == 0, result.output
    frames = result.output.split("\r")
    finals = [f for f in frames if f"{documents}/{documents} [" in f]
    # drawn once to the end (no second bar), in documents, with bytes and a rate
    assert len(finals) == 1, result.output
    assert re.search(rf"100%\|.*\| {documents}/{documents} \[.*doc/s, "
                     rf"{total_bytes / 1e3:.1f} kB/{total_bytes / 1e3:.1f} kB, [\d.]+ [kM]B/s\]",
                     finals[0]), finals[0]
    assert "file" not in "".join(frames[:-1])  # counted in documents, never files
    # it counts up in documents, from 0
    counts = [int(m.group(1)) for m in re.finditer(rf"\| (\d+)/{documents} \[",
                                                   result.output)]
    assert counts[0] == 0 and counts[-1] == documents and counts == sorted(counts)
