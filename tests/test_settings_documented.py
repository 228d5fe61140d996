"""Every server setting is documented in the README, exactly as the table declares it."""

from __future__ import annotations

from click.testing import CliRunner

from kg.cli import main
from server.settings import SETTINGS, Settings, markdown_table
from tests.sample_data import ROOT


def test_readme_carries_the_settings_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "regenerate the README table: python -c 'from server.settings import markdown_table; print(markdown_table())'"


def test_every_setting_has_help_a_flag_and_an_env_variable() -> None:
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for setting in SETTINGS:
        assert setting.help.strip()
        assert setting.flag in help_text
        assert setting.env in help_text
        assert setting.name in Settings.__dataclass_fields__


def test_environment_and_flags_override_defaults() -> None:
    s = Settings.from_sources(env={"KG_PORT": "9001", "KG_RESULT_CAP": "5"}, overrides={"port": 9002})
    assert s.port == 9002 and s.result_cap == 5
