"""The schema's shared `MetaData` (with its naming convention) and the id column type."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Integer,
    MetaData,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite, so ids autoincrement on both.
BigId = BigInteger().with_variant(Integer(), "sqlite")
