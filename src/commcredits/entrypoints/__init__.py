"""Entrypoints: the REST API (FastAPI), the CLI (Typer) and, later, the web admin center."""
