"""The database adapter: SQLAlchemy Core tables, engine, unit of work and Alembic migrations."""
