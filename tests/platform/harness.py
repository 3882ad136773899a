"""The calling platform's processes for the PLAT-1 tier: Kamailio with the shipped
configuration (`integrations/kamailio/`), SIPp as callee (UAS) and as caller (UAC), on free
loopback UDP ports, with their logs in files the tests read back."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAMAILIO_DIR = ROOT / "integrations" / "kamailio"
SCENARIOS = Path(__file__).resolve().parent
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"


def free_udp_port() -> int:
    """A loopback port free for both UDP and TCP (SIPp and Kamailio bind UDP)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def sip_options(port: int, timeout: float = 0.5) -> bool:
    """Does a SIP server answer OPTIONS with 200 on this UDP port?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        here = s.getsockname()[1]
        msg = (f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK{time.monotonic_ns()}\r\n"
               f"From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:ping@127.0.0.1>\r\n"
               f"Call-ID: probe-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\n"
               "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        s.settimeout(timeout)
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = s.recv(4096)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")


@dataclass
class Kamailio:
    """`kamailio -DD -E` with the shipped kamailio.cfg and KEMI script, in its own process
    group (so a crash can be simulated by killing the whole group)."""

    work: Path
    port: int
    env: Mapping[str, str]
    log: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.log = self.work / f"kamailio-{self.port}.log"

    def start(self) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [KAMAILIO, "-f", str(KAMAILIO_DIR / "kamailio.cfg"), "-DD", "-E",
                 "-A", f"LISTEN=udp:127.0.0.1:{self.port}",
                 "-A", f'KEMI_SCRIPT="{KAMAILIO_DIR / "kemi_commcredits.py"}"',
                 "-A", f'RPC_FIFO="{self.work / f"kamailio-{self.port}.fifo"}"',
                 "-w", str(self.work), "-P", str(self.work / f"kamailio-{self.port}.pid"),
                 "-m", "64", "-M", "8"],
                env=dict(self.env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while not sip_options(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kamailio did not start:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """A crash: SIGKILL to the main process and its children; nothing is flushed."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self, pattern: str) -> list[re.Match[str]]:
        return list(re.finditer(pattern, self.text()))


@dataclass
class Sipp:
    """One SIPp process (a UAS callee, or a UAC placing calls through Kamailio)."""

    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    ended: float | None = None

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        if self.ended is None:
            self.ended = time.monotonic()
        return code

    @property
    def elapsed(self) -> float:
        assert self.ended is not None
        return self.ended - self.started

    def outcomes(self) -> list[str]:
        """The `OUTCOME …` lines the scenario logged."""
        if not self.log.exists():
            return []
        return re.findall(r"OUTCOME (\w+(?: \d{3}(?= ))?)",
                          self.log.read_text(errors="replace"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def errors(self) -> str:
        err = self.log.with_suffix(".err")
        out = self.log.with_suffix(".out")
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in (err, out)
                         if p.exists())


def sipp(work: Path, name: str, scenario: Path, args: list[str]) -> Sipp:
    """Start SIPp on a free port; its scenario log is NAME.log, its errors NAME.err."""
    log = work / f"{name}.log"
    cmd = [SIPP, *args, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(free_udp_port()),
           "-mp", str(free_udp_port()), "-nostdin", "-trace_logs", "-log_file", str(log),
           "-trace_err", "-error_file", str(log.with_suffix(".err"))]
    with log.with_suffix(".out").open("w") as out:
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Sipp(proc, log, time.monotonic())


def callee(work: Path, port: int) -> Sipp:
    """The SIPp UAS that answers every call Kamailio relays (on a port of its own)."""
    log = work / "uas.log"
    cmd = [SIPP, "-sf", str(SCENARIOS / "uas.xml"), "-i", "127.0.0.1", "-p", str(port),
           "-mp", str(free_udp_port()), "-nostdin", "-trace_err",
           "-error_file", str(log.with_suffix(".err"))]
    with log.with_suffix(".out").open("w") as out:
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Sipp(proc, log, time.monotonic())


def caller(
    work: Path, name: str, kamailio_port: int, scenario: Path, *, tenant: str, callee: str,
    from_user: str, caller: str, call_type: str = "user_out", hold_ms: int = 1000,
    calls: int = 1,
) -> Sipp:
    """A SIPp UAC placing `calls` calls at once through Kamailio."""
    return sipp(work, name, scenario, [
        f"127.0.0.1:{kamailio_port}", "-m", str(calls), "-l", str(calls), "-r", str(calls),
        "-rp", "1000", "-s", callee, "-d", str(hold_ms), "-timeout", "400s",
        "-key", "tenant", tenant, "-key", "call_type", call_type,
        "-key", "from_user", from_user, "-key", "caller", caller,
    ])


def refused_scenario(work: Path, code: int, reason: str) -> Path:
    """uac_refused.xml with the expected final response and reason code filled in."""
    text = (SCENARIOS / "uac_refused.xml").read_text()
    path = work / f"uac_refused_{code}_{reason}.xml"
    path.write_text(text.replace("SIP_CODE", str(code)).replace("REASON_CODE", reason))
    return path
