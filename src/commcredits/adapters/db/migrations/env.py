"""Alembic environment: runs migrations on the connection or URL handed in by `migrate.py`."""

from alembic import context
from sqlalchemy import Connection

from commcredits.adapters.db.engine import make_engine
from commcredits.adapters.db.keys import include_object
from commcredits.adapters.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True,
        compare_type=True, include_object=include_object(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", pool=False)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
