"""Use cases: one function per command, working through the ports in `ports/`."""
