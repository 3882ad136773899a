"""Tests that keep the docs true: the rules map, the settings and the CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command

from commcredits.config import Settings
from commcredits.entrypoints.cli.main import app
from tools import rules_map

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not rules_map.SPEC.exists(), reason="shared/SPEC.md is not beside the repo")
def test_rules_map_is_up_to_date() -> None:
    expected = rules_map.render(rules_map.spec_rules(), rules_map.collect())
    actual = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert actual == expected, "run: python tools/rules_map.py"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"COMMCREDITS_{name.upper()}" in readme, name


def test_every_cli_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    root = get_command(app)
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        if subs:
            for sub in subs:
                assert f"commcredits {name} {sub}" in readme, f"{name} {sub}"
        else:
            assert f"commcredits {name}" in readme, name
