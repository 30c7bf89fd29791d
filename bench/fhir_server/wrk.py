"""``wrk`` (https://github.com/wg/wrk) with a Lua script that rotates through a file of request paths.

Install it with ``apt-get install -y wrk`` (Debian / Ubuntu) or ``brew install wrk``; :func:`available`
says whether it is on the PATH. wrk is a closed-loop generator written in C: each connection sends its
next request when the previous answer arrived. Latency percentiles are wrk's (microsecond histogram);
"errors" are socket errors (connect, read, write, timeout) plus answers with a status of 400 or more.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkResult", "available", "run_wrk"]

# setup() numbers the threads; each thread reads the paths file and starts at its own offset.
_SCRIPT = r"""
local counter = 1
local threads = 0
local paths = {}

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  counter = math.floor(#paths * tid / 7) % #paths + 1
end

function request()
  local path = paths[counter]
  counter = counter % #paths + 1
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SENBENCH %d %d %d %d %d %d %d %.1f %.1f %.1f %.1f %.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    socket_errors: int
    status_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    base: str,
    paths: list[str],
    *,
    connections: int,
    duration: float,
    threads: int = 2,
    timeout: float = 10,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """GET ``paths`` in rotation from ``connections`` connections for ``duration`` seconds."""
    with tempfile.TemporaryDirectory(prefix="senbench-wrk-") as tmp:
        script = Path(tmp) / "rotate.lua"
        script.write_text(_SCRIPT)
        listing = Path(tmp) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout))}s",
            *[arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")],
            "-s",
            str(script),
            base,
            "--",
            str(listing),
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration + timeout + 60, check=False
        )
    match = re.search(r"^SENBENCH (.*)$", done.stdout, re.M)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    f = match.group(1).split()
    requests, micros = int(f[0]), int(f[1])
    connect, read, write, status, timeouts = (int(x) for x in f[2:7])
    p50, p90, p99, mean, worst = (float(x) / 1000 for x in f[7:12])
    return WrkResult(
        requests=requests,
        seconds=micros / 1e6,
        socket_errors=connect + read + write + timeouts,
        status_errors=status,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        mean_ms=mean,
        max_ms=worst,
    )
