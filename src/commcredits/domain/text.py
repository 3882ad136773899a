"""Text that no store takes: NUL characters and lone UTF-16 surrogates (ERR-1).

PostgreSQL refuses a NUL character in text, and no database driver or JSON encoder takes a
lone surrogate (``"\\ud800"`` in JSON). Such text is refused at the edge, once: the API's
`TextGuard` middleware checks path and query parameters, JSON bodies and forms with
`text_problem` and `find_bad_text`, and every uploaded file (rate tables, CDRs as CSV or JSON
lines, bulk license files) is read through `read_upload`, which refuses it by line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from commcredits.domain.errors import InvalidInput

_BAD = re.compile("[\x00\ud800-\udfff]")
NUL_PROBLEM = "a NUL character"
SURROGATE_PROBLEM = "a lone UTF-16 surrogate"


def text_problem(value: str) -> str | None:
    """What is wrong with this text, or None if a database can store it."""
    if "\x00" in value:
        return NUL_PROBLEM
    if _BAD.search(value):
        return SURROGATE_PROBLEM
    return None


def find_bad_text(value: Any) -> tuple[str, str] | None:
    """The first JSON string or key that `text_problem` refuses, as (dotted path, problem).

    Iterative, so a deeply nested document cannot exhaust the stack.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return where or "body", problem
        elif isinstance(item, dict):
            children: list[tuple[str, Any]] = []
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                problem = text_problem(str(key))
                if problem:
                    return name, problem
                children.append((name, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{where}.{i}" if where else str(i), child)
                                   for i, child in enumerate(item)]))
    return None


def shown(value: str) -> str:
    """Text safe to echo in an answer: a lone surrogate as its escape (``\\ud800``)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def bad_text_refusal(kind: str, name: str, problem: str, **details: Any) -> InvalidInput:
    """The one refusal for such text: ``INVALID_INPUT`` naming where it was."""
    return InvalidInput(
        "INVALID_INPUT",
        f"The {kind} {shown(name)} holds {problem}, which text may not contain; remove it "
        "and send the request again.",
        {**{k: shown(v) if isinstance(v, str) else v for k, v in details.items()},
         "problem": problem},
    )


def read_upload(
    data: bytes | str, undecodable: Callable[[UnicodeDecodeError], InvalidInput],
) -> str:
    """An uploaded file's text: UTF-8 (a BOM is dropped), refused by line when it holds a
    NUL character or a lone surrogate. ``undecodable`` makes the refusal for bytes that are
    not UTF-8, in the words of the file's own format."""
    return _checked(data, undecodable, first=1, bom=True)


def read_upload_lines(
    lines: Iterable[bytes | str], undecodable: Callable[[UnicodeDecodeError], InvalidInput],
) -> Iterator[str]:
    """`read_upload` for a file read line by line (each line with its line end, as a binary
    file's ``readline`` gives them): each line's text, refused at its line as `read_upload`
    refuses the whole file, so a file of any size is read in memory of one line (CDR-3)."""
    number = 1
    for line in lines:
        text = _checked(line, undecodable, first=number, bom=number == 1)
        number += text.count("\n")
        yield text


def _checked(
    data: bytes | str, undecodable: Callable[[UnicodeDecodeError], InvalidInput],
    *, first: int, bom: bool,
) -> str:
    """The text of ``data``, whose first line is line ``first`` of the file."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig" if bom else "utf-8")
        except UnicodeDecodeError as exc:
            raise undecodable(exc) from None
        found = text.find("\x00")  # decoded UTF-8 holds no surrogates
        problem = NUL_PROBLEM
    else:
        text = data.removeprefix("\ufeff") if bom else data
        match = _BAD.search(text)
        found = match.start() if match else -1
        problem = NUL_PROBLEM if match and match.group() == "\x00" else SURROGATE_PROBLEM
    if found >= 0:
        line = first + text.count("\n", 0, found)
        raise bad_text_refusal("file, at line", str(line), problem, line=line)
    return text


def check_json_line(value: Any, line: int) -> None:
    """Refuse one parsed JSON line of an upload whose strings `text_problem` refuses."""
    found = find_bad_text(value)
    if found is not None:
        where, problem = found
        raise bad_text_refusal(f"field {where!r} at line", str(line), problem,
                               line=line, field=where)
