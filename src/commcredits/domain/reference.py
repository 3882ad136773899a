"""Reference tables read from the data files: countries, their currencies, purchase minimums.

The tables are data (`commcredits/data/*.csv`), not code; they are read once and cached.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

from commcredits.domain.errors import InvalidInput

DEFAULT_MINIMUM_PURCHASE = Decimal("50.00")


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    name: str
    currency: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("commcredits.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def countries() -> dict[str, Country]:
    return {
        r["code"]: Country(r["code"], r["name"], r["currency"]) for r in _rows("countries.csv")
    }


@cache
def purchase_minimums() -> dict[str, Decimal]:
    return {r["code"]: Decimal(r["minimum_purchase"]) for r in _rows("currencies.csv")}


def country(code: object) -> Country:
    """Look up an ISO 3166-1 alpha-2 code, or refuse with INVALID_COUNTRY."""
    table = countries()
    if not isinstance(code, str) or code.upper() not in table:
        raise InvalidInput(
            "INVALID_COUNTRY",
            f"{code!r} is not a supported ISO 3166-1 alpha-2 country code (e.g. US, GB, DE).",
            {"value": str(code)},
        )
    return table[code.upper()]


def known_currency(code: object) -> str:
    """Validate a currency against the currency table, or refuse with INVALID_CURRENCY."""
    if not isinstance(code, str) or code.upper() not in purchase_minimums():
        raise InvalidInput(
            "INVALID_CURRENCY", f"{code!r} is not a supported ISO 4217 currency code.",
            {"value": str(code)},
        )
    return code.upper()


def minimum_purchase(currency: str) -> Decimal:
    """The smallest purchase in a currency (FUND-2): 50.00 unless the table says otherwise."""
    return purchase_minimums().get(currency, DEFAULT_MINIMUM_PURCHASE)
