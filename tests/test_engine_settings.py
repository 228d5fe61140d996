"""The engine settings: documented in the README and decision 0010, flags on every command
that reads the graph, bad values named."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kg.cli import main
from kg.storage.engine import ENGINE_SETTINGS, EngineSettings, markdown_table
from tests.sample_data import ROOT


def test_readme_carries_the_engine_settings_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "regenerate: python -c 'from kg.storage.engine import markdown_table; print(markdown_table())'"


def test_the_decision_names_every_variable() -> None:
    decision = (ROOT / "docs" / "decisions" / "0010-engine-boundary.md").read_text(encoding="utf-8")
    for setting in ENGINE_SETTINGS:
        assert setting.env in decision


@pytest.mark.parametrize("command", ["query", "stats", "validate", "serve"])
def test_every_reading_command_takes_the_engine_flags(command: str) -> None:
    help_text = CliRunner().invoke(main, [command, "--help"], terminal_width=200).output
    for setting in ENGINE_SETTINGS:
        if setting.secret:  # never a flag: it would show in the process list
            assert "--engine-password" not in help_text
            continue
        assert setting.flag in help_text and setting.env in help_text


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="KG_ENGINE_TIMEOUT_S: must be positive"):
        EngineSettings.from_sources(env={"KG_ENGINE_TIMEOUT_S": "0"})
    with pytest.raises(ValueError, match="KG_ENGINE=remote needs KG_ENGINE_QUERY_URL"):
        EngineSettings.from_sources(env={"KG_ENGINE": "remote"})
    result = CliRunner().invoke(main, ["stats", "--engine", "remote"])
    assert result.exit_code == 2 and "KG_ENGINE_QUERY_URL" in result.output


def test_flags_override_the_environment() -> None:
    s = EngineSettings.from_sources(
        env={"KG_ENGINE": "remote", "KG_ENGINE_QUERY_URL": "http://127.0.0.1:1/a"},
        overrides={"engine_query_url": "http://127.0.0.1:1/b", "engine_timeout_s": 2.5})
    assert (s.query_url, s.timeout_s, s.engine) == ("http://127.0.0.1:1/b", 2.5, "remote")


def test_a_missing_release_pointer_is_named(tmp_path) -> None:
    result = CliRunner().invoke(main, ["stats", "--engine-release", str(tmp_path / "current.json")])
    assert result.exit_code == 1 and "cannot read the release pointer" in result.output


def test_publish_needs_a_password_and_a_release_file(tmp_path) -> None:
    slots = tmp_path / "slots.json"
    slots.write_text("{}", encoding="utf-8")
    release = tmp_path / "scholarkg-r1.nq.gz"
    release.write_bytes(b"")
    args = ["publish", str(release), "--slots", str(slots), "--pointer", str(tmp_path / "current.json")]
    result = CliRunner().invoke(main, args, env={"KG_ENGINE_PASSWORD": ""})
    assert result.exit_code == 2 and "KG_ENGINE_PASSWORD" in result.output
    result = CliRunner().invoke(main, args, env={"KG_ENGINE_PASSWORD": "x"})
    assert result.exit_code == 1 and "naming two slots" in result.output
    assert "the current release still serves" in result.output
    slot = {"isql": "127.0.0.1:1", "query_url": "http://127.0.0.1:1/sparql", "load_dir": str(tmp_path)}
    slots.write_text(json.dumps({"blue": slot, "green": slot}), encoding="utf-8")
    other = tmp_path / "release.nq.gz"
    other.write_bytes(b"")
    result = CliRunner().invoke(main, ["publish", str(other), *args[2:]], env={"KG_ENGINE_PASSWORD": "x"})
    assert result.exit_code == 1 and "scholarkg-<release>.nq.gz" in result.output


def test_release_id_of_the_embedded_store_follows_the_current_link(tmp_path) -> None:
    from kg.storage.engine import release_id
    from kg.storage.store import KnowledgeStore

    KnowledgeStore.open(tmp_path / "2026-11-21").flush()
    (tmp_path / "current").symlink_to(tmp_path / "2026-11-21")
    assert release_id(KnowledgeStore.open(tmp_path / "current", read_only=True)) == "2026-11-21"
    assert release_id(KnowledgeStore.open(None)) == ""
