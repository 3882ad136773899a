"""The id a ``(tenant_id, id)`` table gives its next row on SQLite (DIST-1, migration 0013).

``keys.next_id`` is ``(SELECT coalesce(max(id), 0) + 1 FROM <table>)`` on SQLite. ``id`` is
the second column of the primary key, so before 0013 SQLite scanned the table for it; 0013
adds ``ix_<table>_id`` and the maximum comes from the end of that index.

A temporary SQLite file is migrated to the head (the real migrations), then
``ledger_allocations`` is filled with N rows of 10 tenants. Timed, each over many repeats:

- **next_id, with ix_ledger_allocations_id**: the expression `next_id` compiles to;
- **next_id, without the index**: the same after ``DROP INDEX`` (the schema before 0013);
- **baseline: max(rowid)**: SQLite's own row counter, read from the end of the table's B-tree,
  the least such a read can cost.

Ratio: baseline time / the row's time (1.0 is as fast as the baseline). It prints figures and
asserts no timings. Run: ``.venv/bin/python bench/next_id.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.dialects import sqlite as sqlite_dialect

from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.keys import next_id
from commcredits.adapters.db.migrate import upgrade

TABLE = "ledger_allocations"


def per_call_us(fn: Callable[[], object], seconds: float = 1.0) -> tuple[float, int]:
    """Microseconds per call of ``fn``, repeated for about ``seconds``, and the repeats."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < 3:
        fn()
        n += 1
    return (time.perf_counter() - start) / n * 1e6, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows in ledger_allocations (default 1,000,000)")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
          f"{args.rows:,} rows in {TABLE}")
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "commcredits.db"
        engine = make_engine(f"sqlite:///{path}", pool=False)
        upgrade(engine)
        engine.dispose()
        db = sqlite3.connect(path)
        db.executemany(
            f"INSERT INTO {TABLE} (id, tenant_id, entry_id, lot_id, amount)"
            " VALUES (?, ?, ?, ?, ?)",
            ((i, f"{i % 10:032x}", i, i, 1_000_000) for i in range(1, args.rows + 1)))
        db.commit()
        expression = str(next_id(TABLE).compile(dialect=sqlite_dialect.dialect()))
        query = f"SELECT {expression}"

        def read_next() -> object:
            return db.execute(query).fetchone()

        def read_rowid() -> object:
            return db.execute(f"SELECT max(rowid) FROM {TABLE}").fetchone()

        assert read_next() == (args.rows + 1,)
        base_us, base_n = per_call_us(read_rowid)
        with_us, with_n = per_call_us(read_next)
        db.execute(f"DROP INDEX ix_{TABLE}_id")
        without_us, without_n = per_call_us(read_next)
        db.close()
    print(f"{'what':<40} {'µs per read':>12} {'repeats':>9} {'ratio':>7}")
    for what, us, n in (("next_id, with ix_ledger_allocations_id", with_us, with_n),
                        ("next_id, without the index (before 0013)", without_us, without_n),
                        ("baseline: max(rowid)", base_us, base_n)):
        print(f"{what:<40} {us:>12,.2f} {n:>9,} {base_us / us:>7.3f}")


if __name__ == "__main__":
    main()
