"""Every command's `--help` (issue #11): no type metavars (`<str>`, `<bool>`, `<int>` …) and no
SPEC rule ids such as "(SIM-1)"; help is for the people running the commands."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
from typer.main import get_command
from typer.testing import CliRunner

from commcredits.entrypoints.cli.main import app

runner = CliRunner(env={"COLUMNS": "120"})
TYPE_METAVAR = re.compile(
    r"<(str|bool|int|float|path|file|dir|text|datetime|uuid|int range|float range)>"
    r"|\blist\[\w+\]|\b(TEXT|INTEGER|BOOLEAN|FLOAT|PATH)\b")
SPEC_ID = re.compile(r"\b(ACCT|AR|AUTH|CALL|CDR|DIST|ERR|FUND|GUARD|LIC|NOTE|NUM|OPS|PAY|PLAN"
                     r"|PLAT|POOL|POST|RATE|REP|SIM)-\d+")


def commands(command: click.Command, path: list[str]) -> Iterator[list[str]]:
    yield path
    subs: dict[str, click.Command] = getattr(command, "commands", {})
    for name, sub in sorted(subs.items()):
        yield from commands(sub, [*path, name])


def test_every_help_shows_no_type_metavars_and_no_spec_ids() -> None:
    paths = list(commands(get_command(app), []))
    assert ["credits", "adjust"] in paths and ["serve"] in paths and len(paths) > 60
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        shown = " ".join(path) or "commcredits"
        assert result.exit_code == 0, (shown, result.output)
        assert "Usage:" in result.output, shown
        assert not TYPE_METAVAR.search(result.output), (shown, result.output)
        assert not SPEC_ID.search(result.output), (shown, result.output)


def test_no_help_paragraph_is_broken_mid_sentence() -> None:
    """Typer joins the lines of a help text's first paragraph but prints the later ones as
    written, so a docstring wrapped at the source's line length would break mid-sentence
    on the terminal ("the range is read" / "as the API …"): each later paragraph is one
    line."""
    root = get_command(app)
    for path in commands(root, []):
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        for paragraph in (command.help or "").split("\n\n")[1:]:
            assert "\n" not in paragraph.strip(), (" ".join(path), paragraph)
