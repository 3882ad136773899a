"""Generate the SAMPLE rate tables in src/commcredits/data/rates/ (USD, EUR, GBP).

These are illustrative prices for demos and tests, not any carrier's tariff. Each table
covers 32 countries with fixed and mobile outbound rows, toll-free inbound rows per caller
country, and one premium range (US 1-900), which call control blocks (CALL-3).
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "commcredits" / "data" / "rates"
FX = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "GBP": Decimal("0.79")}
EFFECTIVE = "2026-01-01T00:00:00Z"

# country, name, prefix, fixed USD/min, mobile prefixes, mobile USD/min, toll-free in USD/min
COUNTRIES = [
    ("US", "United States", "1", "0.010", [], "0.010", "0.018"),
    ("CA", "Canada", "1204", "0.012", [], "0.012", "0.020"),
    ("PR", "Puerto Rico", "1787", "0.015", [], "0.015", "0.022"),
    ("GB", "United Kingdom", "44", "0.023", ["447"], "0.120", "0.045"),
    ("DE", "Germany", "49", "0.025", ["4915", "4916", "4917"], "0.140", "0.050"),
    ("FR", "France", "33", "0.025", ["336", "337"], "0.130", "0.055"),
    ("IT", "Italy", "39", "0.028", ["393"], "0.150", "0.060"),
    ("ES", "Spain", "34", "0.026", ["346", "347"], "0.120", "0.055"),
    ("NL", "Netherlands", "31", "0.030", ["316"], "0.160", "0.060"),
    ("BE", "Belgium", "32", "0.032", ["324"], "0.170", "0.065"),
    ("CH", "Switzerland", "41", "0.035", ["417"], "0.250", "0.080"),
    ("AT", "Austria", "43", "0.030", ["436"], "0.150", "0.060"),
    ("SE", "Sweden", "46", "0.028", ["467"], "0.110", "0.055"),
    ("NO", "Norway", "47", "0.030", ["474", "479"], "0.120", "0.060"),
    ("DK", "Denmark", "45", "0.030", ["452", "453"], "0.120", "0.060"),
    ("FI", "Finland", "358", "0.040", ["3584"], "0.160", "0.070"),
    ("IE", "Ireland", "353", "0.030", ["3538"], "0.150", "0.060"),
    ("PT", "Portugal", "351", "0.030", ["3519"], "0.140", "0.060"),
    ("PL", "Poland", "48", "0.030", ["485", "486", "487"], "0.100", "0.060"),
    ("CZ", "Czech Republic", "420", "0.035", ["4206", "4207"], "0.120", "0.065"),
    ("AU", "Australia", "61", "0.035", ["614"], "0.090", "0.070"),
    ("NZ", "New Zealand", "64", "0.040", ["642"], "0.200", "0.075"),
    ("JP", "Japan", "81", "0.060", ["8170", "8180", "8190"], "0.180", "0.090"),
    ("KR", "South Korea", "82", "0.040", ["8210"], "0.080", "0.080"),
    ("SG", "Singapore", "65", "0.030", ["658", "659"], "0.040", "0.060"),
    ("HK", "Hong Kong SAR", "852", "0.030", ["8525", "8526", "8529"], "0.040", "0.060"),
    ("IN", "India", "91", "0.040", ["917", "918", "919"], "0.045", "0.080"),
    ("CN", "China", "86", "0.030", ["861"], "0.030", "0.070"),
    ("BR", "Brazil", "55", "0.060", ["55119"], "0.180", "0.090"),
    ("MX", "Mexico", "52", "0.030", ["521"], "0.060", "0.070"),
    ("ZA", "South Africa", "27", "0.080", ["276", "277", "278"], "0.200", "0.100"),
    ("AE", "United Arab Emirates", "971", "0.200", ["9715"], "0.250", "0.150"),
]
PREMIUM = ("1900", "United States premium", "2.990")


def price(usd: str, currency: str) -> str:
    return str((Decimal(usd) * FX[currency]).quantize(Decimal("0.000001"), ROUND_HALF_UP))


def rows(currency: str) -> list[list[str]]:
    out = []
    for _, name, prefix, fixed, mobiles, mobile, toll_free in COUNTRIES:
        out.append([prefix, name, "fixed", "outbound", price(fixed, currency), "0.00",
                    "60", "60", EFFECTIVE])
        for m in mobiles:
            out.append([m, f"{name} mobile", "mobile", "outbound", price(mobile, currency),
                        "0.00", "60", "60", EFFECTIVE])
        out.append([prefix, f"{name} (toll-free caller)", "fixed", "toll_free_inbound",
                    price(toll_free, currency), "0.00", "60", "60", EFFECTIVE])
    p, name, rate = PREMIUM
    out.append([p, name, "premium", "outbound", price(rate, currency), "0.00", "60", "60",
                EFFECTIVE])
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for currency in FX:
        with (OUT / f"sample_{currency.lower()}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["prefix", "destination", "number_type", "direction",
                             "rate_per_minute", "connection_fee", "first_increment",
                             "next_increment", "effective_from"])
            writer.writerows(rows(currency))
    print(f"wrote {len(FX)} sample tables to {OUT}")


if __name__ == "__main__":
    main()
