"""Rate tables over HTTP (RATE-1, RATE-3): PUT /rate-tables/{currency} with a CSV body, GET
its versions, and the refusals (envelope, every bad line, nothing stored)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.e2e.conftest import Api, assert_envelope, row_counts

CSV = {"Content-Type": "text/csv"}
GOOD = (
    b"prefix,destination,number_type,direction,rate_per_minute,connection_fee,"
    b"first_increment,next_increment,effective_from\n"
    b"44,United Kingdom,fixed,outbound,0.020000,0.00,60,60,2026-01-01T00:00:00Z\n"
    b"447,United Kingdom mobile,mobile,outbound,0.120000,0.00,60,60,2026-01-01T00:00:00Z\n"
    b"44,United Kingdom caller,fixed,toll_free_inbound,0.045,0,60,60,2026-01-01T00:00:00Z\n"
)


@pytest.mark.rule("RATE-1")
@pytest.mark.rule("RATE-3")
def test_the_operator_imports_a_csv_table_as_version_1_then_2_and_lists_them(api: Api) -> None:
    r = api.call("PUT", "/rate-tables/GBP", content=GOOD, headers=CSV)
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("currency", "version", "rows", "imported_at")} == {
        "currency": "GBP", "version": 1, "rows": 3, "imported_at": "2026-01-15T09:00:00Z"}
    r = api.call("PUT", "/rate-tables/gbp", content=GOOD, headers=CSV)
    assert (r.status_code, r.json()["version"]) == (201, 2)
    listed = api.get("/rate-tables/GBP")
    assert listed.status_code == 200, listed.text
    assert [(x["version"], x["rows"], x["source"]) for x in listed.json()["tables"]] == [
        (1, 3, "api"), (2, 3, "api")]
    assert api.get("/rate-tables/EUR").json() == {"tables": []}


@pytest.mark.rule("RATE-3")
def test_a_bad_table_is_refused_with_every_bad_line_and_nothing_is_stored(
    api: Api, engine: Engine,
) -> None:
    before = row_counts(engine)
    bad = GOOD + b"33,France,landline,outbound,0.02,0,60,60,2026-01-01T00:00:00Z\n" \
        + b"34,Spain,fixed,outbound,-1,0,60,60,2026-01-01T00:00:00Z\n"
    r = api.call("PUT", "/rate-tables/GBP", content=bad, headers=CSV)
    error = assert_envelope(r, 422, "INVALID_RATE_TABLE")
    assert [e["line"] for e in error["details"]["errors"]] == [5, 6]
    assert_envelope(api.call("PUT", "/rate-tables/GBP", content=b"", headers=CSV), 422,
                    "INVALID_RATE_TABLE")
    assert_envelope(api.call("PUT", "/rate-tables/GBP", content=b"a,b\n1,2\n", headers=CSV),
                    422, "INVALID_RATE_TABLE")
    assert_envelope(api.call("PUT", "/rate-tables/XYZ", content=GOOD, headers=CSV), 422,
                    "INVALID_CURRENCY")
    assert row_counts(engine) == before


@pytest.mark.rule("RATE-3")
def test_only_the_operator_may_import_or_list_rate_tables(api: Api, engine: Engine) -> None:
    tid = api.tenant()
    admin = api.key(tid, "global_admin")
    before = row_counts(engine)
    r = api.call("PUT", "/rate-tables/USD", content=GOOD, headers=CSV, key=admin)
    assert_envelope(r, 403, "FORBIDDEN")
    assert_envelope(api.get("/rate-tables/USD", key=admin), 403, "FORBIDDEN")
    assert_envelope(api.call("PUT", "/rate-tables/USD", content=GOOD, headers=CSV, key=None),
                    401, "UNAUTHENTICATED")
    assert row_counts(engine) == before
