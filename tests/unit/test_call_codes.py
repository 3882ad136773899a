"""The SMALLINT codes of the call's enums in ``calls`` (`adapters.db.codes`, migration 0012):
every value has one code, codes are unique per column, and `Coded` reads back exactly the
enum it wrote (CDR-2: a batch-rated call and a live one are stored alike; REP-1: reports
read the call types back)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql, sqlite

from commcredits.adapters.db import tables as t
from commcredits.adapters.db.cdr_repos import SqlCdrBatch
from commcredits.adapters.db.codes import CALL_CODES, Coded, encoder
from commcredits.domain.authorization import Funding
from commcredits.domain.calls import CallSource, CallStatus, CallType
from commcredits.domain.rating import NumberType
from commcredits.services.ports import CdrBatch
from commcredits.services.ports.calls import CALL_ROW_COLUMNS

ENUMS: dict[str, type[StrEnum]] = {"source": CallSource, "status": CallStatus,
                                   "call_type": CallType, "funding": Funding}


@pytest.mark.rule("CDR-2")
@pytest.mark.rule("REP-1")
@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()],
                         ids=["sqlite", "postgres"])
def test_every_value_has_one_code_and_reads_back_as_itself(dialect: object) -> None:
    for name, codes in CALL_CODES.items():
        assert len(set(codes.values())) == len(codes), name  # unique per column
        column_type = t.calls.c[name].type
        assert isinstance(column_type, Coded) and column_type.name == name
        write = column_type.bind_processor(dialect)  # type: ignore[arg-type]
        read = column_type.result_processor(dialect, None)  # type: ignore[arg-type]
        values = list(ENUMS[name]) if name in ENUMS else list(codes)
        for value in values:
            code = write(value)
            assert isinstance(code, int) and 0 < code < 2**15, (name, value)
            assert read(code) == value and type(read(code)) is type(value), (name, value)
        assert write(None) is None and read(None) is None
    # Every number type rating gives a call, plus the emergency marker, has its code.
    assert {n.value for n in NumberType} | {"emergency"} == set(CALL_CODES["number_type"])
    assert set(CALL_CODES["call_type"]) == set(CallType)
    assert set(CALL_CODES["status"]) == set(CallStatus)


@pytest.mark.rule("CDR-2")
def test_a_value_without_a_code_is_refused_by_column_name() -> None:
    with pytest.raises(ValueError, match=r"calls.call_type has no code for 'aa_in'"):
        encoder("call_type")("aa_in")
    with pytest.raises(ValueError, match=r"calls.number_type has no code for 'service'"):
        encoder("number_type")("service")
    assert encoder("status")(CallStatus.ENDED) == encoder("status")("ended") == 3


@pytest.mark.rule("CDR-2")
@pytest.mark.parametrize("column", ["call_type", "number_type", "funding"])
def test_the_bulk_writer_refuses_a_value_without_a_code_by_its_column(column: str) -> None:
    """`SqlCdrBatch.write` encodes rows with plain lookups; a value without a code is still
    refused with its own column's name (not a column encoded before it), before any write."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    good = {"source": "cdr", "status": "ended", "call_type": "user_out",
            "funding": "credits", "number_type": "mobile"}
    row = tuple(good.get(name, at if name.endswith("_at") else None)
                for name in CALL_ROW_COLUMNS)
    bad = tuple("nonsense" if name == column else value
                for name, value in zip(CALL_ROW_COLUMNS, row, strict=True))
    engine = create_engine("sqlite://")
    with engine.connect() as conn, \
            pytest.raises(ValueError, match=rf"calls\.{column} has no code for 'nonsense'"):
        SqlCdrBatch(conn).write("t1", CdrBatch([bad], [], [], {}, []))
