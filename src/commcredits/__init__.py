"""commcredits: Communications Credits, prepaid per-minute billing for PSTN calling."""

__version__ = "0.1.0"
