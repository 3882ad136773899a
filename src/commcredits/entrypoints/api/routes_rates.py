"""The /api/v1 routes for rate tables (RATE-1, RATE-3): import a CSV version, list versions."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from commcredits.domain.errors import InvalidInput
from commcredits.entrypoints.api.bodies import csv_body
from commcredits.entrypoints.api.deps import OperatorDep, PrincipalDep, ServicesDep
from commcredits.entrypoints.api.routing import api_router
from commcredits.entrypoints.api.views import ts
from commcredits.services import rates
from commcredits.services.rates import RateTableInfo

router = api_router()
Json = dict[str, Any]
MAX_TABLE_BYTES = 64 * 1024 * 1024


def table_view(r: RateTableInfo) -> Json:
    return {"currency": r.currency, "version": r.version, "rows": r.rows,
            "imported_at": ts(r.imported_at), "source": r.source, "sha256": r.sha256}


@router.put("/rate-tables/{currency}", status_code=201, tags=["rates"], openapi_extra=csv_body(
    "RATE-3: CSV with the header prefix, destination, number_type, direction, "
    "rate_per_minute, connection_fee, first_increment, next_increment, effective_from and "
    "optionally effective_to; at most 64 MB."))
async def import_rate_table(
    currency: str, request: Request, svc: ServicesDep, who: OperatorDep,
) -> Json:
    """RATE-3: the CSV body (Content-Type text/csv) becomes the currency's next version, all
    or nothing; INVALID_RATE_TABLE lists every bad line in ``details.errors``."""
    data = await request.body()
    if len(data) > MAX_TABLE_BYTES:
        raise InvalidInput("INVALID_RATE_TABLE", "The rate table is larger than 64 MB.")
    info = await run_in_threadpool(rates.import_table, svc, who, currency, data, "api")
    return table_view(info)


@router.get("/rate-tables/{currency}", tags=["rates"])
def list_rate_tables(currency: str, svc: ServicesDep, who: PrincipalDep) -> Json:
    return {"tables": [table_view(r) for r in rates.list_tables(svc, who, currency)]}
