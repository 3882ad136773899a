"""The real `commcredits serve` as a subprocess, for the tiers that drive it over HTTP
(the browser tests, the README tour, the msgraph-sdk script): a free loopback port, its
output in a log file, ready once `/healthz` answers, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

COMMCREDITS = str(Path(sys.executable).with_name("commcredits"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_subprocess(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path,
    port: int | None = None,
) -> Iterator[str]:
    """Run `commcredits serve ARGS --port P`; yield its URL once it is healthy."""
    port = port or free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [COMMCREDITS, "serve", *args, "--port", str(port)],
            cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown ends its workers too
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"commcredits serve exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"commcredits serve did not answer:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (the server and its workers), SIGKILL what is
    left after 15 s, so no worker of a test outlives it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
