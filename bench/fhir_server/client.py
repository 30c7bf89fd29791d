"""A small HTTP/1.1 load client on asyncio: keep-alive connections, a closed loop per connection.

Used for the search mix, the ingest POSTs and, when ``wrk`` is not installed, for the reads. It is
deliberately minimal (request line, a few headers, ``Content-Length`` or chunked bodies): a read costs
it about 90 µs of CPU on the 2-core development machine (wrk: about 50 µs), which matters when the
client shares two cores with the server and PostgreSQL. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Call", "HttpConnection", "Sample", "closed_loop"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request to make: ``tag`` groups the results (a query type, ``read``...)."""

    tag: str
    path: str
    method: str = "GET"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Sample:
    """One answered (or failed: ``status`` 0) request."""

    tag: str
    status: int
    seconds: float
    body: bytes
    path: str = ""


class HttpConnection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, call: Call) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        head = [f"{call.method} {call.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head.extend(f"{k}: {v}" for k, v in call.headers)
        if call.body or call.method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(call.body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + call.body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = close = False
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            key = key.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif key == b"connection":
                close = b"close" in value.lower()
        if status in (204, 304) or 100 <= status < 200 or call.method == "HEAD":
            body = b""
        elif chunked:
            parts: list[bytes] = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, body


async def closed_loop(
    host: str,
    port: int,
    concurrency: int,
    next_call: Callable[[], Call | None],
    *,
    duration: float | None = None,
    keep_body: Callable[[Call], bool] = lambda _c: True,
) -> tuple[list[Sample], float]:
    """``concurrency`` connections, each sending its next request when the previous one is answered.

    Stops when ``next_call()`` returns None or after ``duration`` seconds; returns the samples and the
    wall time. A request that fails (connection error) is a sample with status 0, and its connection is
    opened again.
    """
    samples: list[Sample] = []
    deadline = time.perf_counter() + duration if duration else None

    async def worker() -> None:
        conn = HttpConnection(host, port)
        try:
            while deadline is None or time.perf_counter() < deadline:
                call = next_call()
                if call is None:
                    return
                t0 = time.perf_counter()
                try:
                    status, body = await conn.request(call)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                    await conn.close()
                    samples.append(
                        Sample(call.tag, 0, time.perf_counter() - t0, repr(exc).encode(), call.path)
                    )
                    continue
                elapsed = time.perf_counter() - t0
                samples.append(Sample(call.tag, status, elapsed, body if keep_body(call) else b"", call.path))
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, time.perf_counter() - t0


def rotating(calls: Sequence[Call], start: int = 0) -> Callable[[], Call]:
    """``next_call`` that cycles through ``calls`` forever."""
    position = start

    def next_call() -> Call:
        nonlocal position
        call = calls[position % len(calls)]
        position += 1
        return call

    return next_call


def once(calls: Sequence[Call]) -> Callable[[], Call | None]:
    """``next_call`` that hands out each of ``calls`` once."""
    it = iter(calls)
    return lambda: next(it, None)
