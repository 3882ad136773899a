"""The `commcredits` command line (Typer + Rich)."""
