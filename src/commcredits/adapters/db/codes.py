"""The small integer codes ``calls`` stores for the call's enums (migration 0012): the one
place where a code and its value meet.

The domain keeps its str enums (`domain.calls.CallStatus`, `CallType`, `CallSource`,
`authorization.Funding`) and ``number_type`` strings; `Coded` is the column type that turns
them into SMALLINT codes and back, for every statement SQLAlchemy compiles (and
`compiled.Compiled`, which runs the same processors). `encode` serves the bulk CDR writer,
which hands rows to ``executemany`` / ``COPY`` as they are. Codes are fixed: a new value
takes the next free code; a code is never reused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import Dialect, SmallInteger, text
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator

from commcredits.domain.authorization import Funding
from commcredits.domain.calls import OPEN_STATUSES, CallSource, CallStatus, CallType

_S, _T = CallStatus, CallType
STATUS: Mapping[str, int] = {_S.AUTHORIZED: 1, _S.ACTIVE: 2, _S.ENDED: 3, _S.EXPIRED: 4,
                             _S.DENIED: 5}
SOURCE: Mapping[str, int] = {CallSource.LIVE: 1, CallSource.CDR: 2}
FUNDING: Mapping[str, int] = {Funding.POOL: 1, Funding.CREDITS: 2, Funding.POST_USAGE: 3,
                              Funding.FREE: 4}
NUMBER_TYPE: Mapping[str, int] = {"fixed": 1, "mobile": 2, "toll_free": 3, "premium": 4,
                                  "other": 5, "emergency": 6}
CALL_TYPE: Mapping[str, int] = {
    _T.USER_OUT: 1, _T.USER_OUT_TRANSFER: 2, _T.USER_OUT_FORWARDING: 3, _T.FMC_OUT: 4,
    _T.UCAP_OUT: 5, _T.DR_OUT: 6, _T.DR_OUT_USER_FORWARDING: 7, _T.DR_OUT_USER_TRANSFER: 8,
    _T.CONF_OUT: 9, _T.USER_OUT_CONF: 10, _T.UCAP_OUT_CONF: 11, _T.DR_OUT_USER_CONF: 12,
    _T.EMERGENCY_OUT: 13, _T.DR_EMERGENCY_OUT: 14, _T.USER_IN: 15, _T.EMERGENCY_IN: 16,
    _T.UNASSIGNED_IN: 17, _T.FMC_IN: 18, _T.UCAP_IN: 19, _T.DR_IN: 20,
    _T.DR_UNASSIGNED_IN: 21, _T.CONF_IN: 22,
}
# The coded columns of ``calls`` and their codes (the migration converts these).
CALL_CODES: Mapping[str, Mapping[str, int]] = {
    "source": SOURCE, "status": STATUS, "call_type": CALL_TYPE, "funding": FUNDING,
    "number_type": NUMBER_TYPE,
}


_ENUMS: Mapping[str, type[StrEnum] | None] = {
    "source": CallSource, "status": CallStatus, "call_type": CallType, "funding": Funding,
    "number_type": None,
}


class Coded(TypeDecorator[Any]):
    """A column of ``calls`` (``name``, a key of `CALL_CODES`) holding a str enum (or, for
    ``number_type``, one of a fixed set of strings) as its SMALLINT code."""

    impl = SmallInteger
    cache_ok = True

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name  # the one constructor argument: the statement cache key
        cls = _ENUMS[name]
        self._codes = CALL_CODES[name]
        self._values: dict[int | None, Any] = {
            code: (cls(value) if cls is not None else str(value))
            for value, code in self._codes.items()}
        self._values[None] = None  # NULL reads back as None

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], int | None]:
        return encoder(self.name)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        # A dict lookup, called from C for every value read (reports read millions).
        return self._values.__getitem__

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        return str(encoder(self.name)(value))

    @property
    def python_type(self) -> type[Any]:
        return str


def encoder(name: str) -> Callable[[Any], int | None]:
    """The code of a value of column ``name`` (None stays None); an unknown value is
    refused with the column's name. A str enum member finds its plain string's code."""
    codes = CALL_CODES[name]

    def encode(value: Any) -> int | None:
        if value is None:
            return None
        found = codes.get(value)
        if found is None:
            raise ValueError(f"calls.{name} has no code for {value!r}")
        return found
    return encode


def open_call_clause() -> TextClause:
    """``status IN (<open codes>)``: the partial index's term, written the same wherever it
    is used (SQLite matches a partial index by its term)."""
    codes = ", ".join(str(STATUS[s]) for s in OPEN_STATUSES)
    return text(f"status IN ({codes})")
