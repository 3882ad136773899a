"""Adapters: I/O behind the service ports (database, payments, clocks)."""
