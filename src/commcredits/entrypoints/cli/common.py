"""What every `commcredits` command shares: the `--db` option, the two consoles, `friendly`
(refusals as ``error CODE: message``), `runtime` (which refuses a SQLite file that does not
exist) and the checks made before any work starts.

Exit status, for every command: 0 when everything was applied; 1 when some rows of a file were
rejected (`cdr import`, `licenses bulk`); 2 when the request was refused or a parameter was bad,
and then nothing was changed. Messages never show a Python exception's class name.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from typer.core import TyperArgument, TyperOption

from commcredits.bootstrap import Runtime, build
from commcredits.config import DEFAULT_DATABASE_URL, Settings
from commcredits.domain.errors import DomainError, InvalidInput

EXIT_OK = 0
EXIT_ROWS_REJECTED = 1
EXIT_REFUSED = 2

out = Console()
err = Console(stderr=True)

Db = Annotated[str | None, typer.Option(
    "--db", envvar="COMMCREDITS_DATABASE_URL", show_envvar=True,
    help="Database URL (default: the SQLite file commcredits.db in this folder; "
         "postgresql+psycopg://… selects PostgreSQL). Only db upgrade, serve and demo "
         "create a SQLite file; other commands refuse one that does not exist.",
)]
P = ParamSpec("P")
R = TypeVar("R")


def _no_type(param: TyperArgument, ctx: typer.Context) -> str | None:
    return None


def _metavar_only(param: TyperOption, ctx: typer.Context) -> str:
    return param.metavar or ""


# Help shows no type column (`<str>`, `<bool>`, `<int>`): each help text says what a value
# looks like. Typer has no setting for this column, so its two parameter classes are told here,
# once, for this CLI; an option that wants a placeholder sets `metavar`.
TyperArgument.display_type_rich = _no_type  # type: ignore[method-assign,assignment]
TyperOption.display_type_rich = _metavar_only  # type: ignore[method-assign,assignment]


def fail(code: str, message: str, status: int = EXIT_REFUSED) -> NoReturn:
    """Print ``error CODE: message`` on stderr and exit (2: refused, nothing changed)."""
    err.print(f"[bold red]error[/] {code}: {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(status)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def _os_message(exc: OSError) -> str:
    what = exc.strerror or _first_line(str(exc)) or "cannot use the file"
    return f"{exc.filename}: {what}" if exc.filename else what


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn refusals and failures into one line with a stable code, exit status 2."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # an exit status already chosen, or Click's own usage errors (status 2)
        except DomainError as exc:
            fail(exc.code, exc.message)
        except OSError as exc:
            fail("FILE_ERROR", _os_message(exc))
        except ArgumentError as exc:
            fail("INVALID_DATABASE_URL", _first_line(str(exc)))
        except DBAPIError as exc:
            fail("DATABASE_ERROR", _first_line(str(exc.orig)) or "the database refused.")
        except SQLAlchemyError as exc:
            fail("DATABASE_ERROR", _first_line(str(exc)) or "the database refused.")
        except Exception as exc:  # a bug: still one line, and no class name
            fail("UNEXPECTED", _first_line(str(exc)) or "something went wrong; nothing "
                 "more is known. Run again, or report it with the command you ran.")
    return wrapper


def settings_for(db: str | None, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(extra)
    if db:
        values["database_url"] = db
    return Settings(**values)


def require_database(settings: Settings, db: str | None) -> None:
    """Refuse a SQLite file that does not exist (a mistyped `--db` would create a new, empty
    database). Only `db upgrade`, `serve` and `demo` create one."""
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        raise InvalidInput(
            "INVALID_DATABASE_URL",
            f"{settings.database_url!r} is not a database URL; use sqlite:///commcredits.db "
            "or postgresql+psycopg://user@host/db (--db or COMMCREDITS_DATABASE_URL).",
        ) from None
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in {"", ":memory:"} \
            or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        return
    if db is None and settings.database_url == DEFAULT_DATABASE_URL:
        raise InvalidInput(
            "DATABASE_NOT_FOUND",
            f"There is no database in this folder yet ({path.resolve()}). Run `make run` or "
            "`commcredits db upgrade` to create it, or point --db at yours.",
        )
    raise InvalidInput(
        "DATABASE_NOT_FOUND",
        f"No SQLite database at {path.resolve()}. Check --db (or COMMCREDITS_DATABASE_URL) "
        f"for a typo; to create a new database there, run `commcredits db upgrade --db "
        f"{settings.database_url}`.",
    )


@contextmanager
def runtime(db: str | None, *, create: bool = False) -> Iterator[Runtime]:
    """The runtime on an existing database (migrated); ``create`` makes a new SQLite file."""
    settings = settings_for(db)
    if not create:
        require_database(settings, db)
    rt = build(settings, migrate=True)
    try:
        yield rt
    finally:
        rt.close()


def writable_file(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written, before any work starts."""
    folder = path.parent
    if not folder.is_dir():
        raise InvalidInput(
            "OUTPUT_NOT_WRITABLE",
            f"The folder {folder} does not exist; create it or choose another {option}.",
        )
    if path.is_dir():
        raise InvalidInput("OUTPUT_NOT_WRITABLE",
                           f"{path} is a folder; give {option} a file name.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidInput("OUTPUT_NOT_WRITABLE",
                           f"{path} cannot be written here; choose another {option}.")


def money_table(
    title: str, rows: Sequence[Sequence[str]], headers: tuple[str, ...],
) -> Table:
    table = Table(title=title)
    for h in headers:
        table.add_column(h, justify="right" if h in {"amount", "remaining", "total"} else "left")
    for row in rows:
        table.add_row(*row)
    return table
