"""Test helpers of the outbreak alerts: a pool on a migrated schema, officers, a loopback webhook receiver
(uvicorn) and a loopback SMTP server (a small asyncio one: no SMTP server library is installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from senhealth.core.db import close_pool, open_pool
from senhealth.fhir.store import FhirStore
from senhealth.surveillance.alerts import DetectorResult

VN = timezone(timedelta(hours=7))
NOW = datetime(2026, 2, 16, 8, 0, tzinfo=VN)


def run(url: str, body: Callable[[FhirStore], Awaitable[None]]) -> None:
    async def main() -> None:
        await open_pool(url, max_size=8)
        try:
            await body(FhirStore())
        finally:
            await close_pool()

    asyncio.run(main())


def dengue(commune: str = "70101", week: str = "2026-W07", observed: float = 14, **kw: Any) -> DetectorResult:
    values: dict[str, Any] = {
        "disease": "A90",
        "area": commune,
        "week": week,
        "method": "ears-c2",
        "observed": observed,
        "expected": 3.2,
        "upperbound": 9.1,
        "disease_display": "Sốt xuất huyết Dengue",
        "area_display": "Xã Tân Phú",
    }
    values.update(kw)
    return DetectorResult(**values)


def practitioner(name: str, email: str | None = None) -> dict[str, Any]:
    family, *given = name.split()
    out: dict[str, Any] = {
        "resourceType": "Practitioner",
        "name": [{"text": name, "family": family, "given": given}],
    }
    if email:
        out["telecom"] = [{"system": "email", "value": email}]
    return out


# -- a loopback SMTP server (RFC 5321: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) --------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    """Accepts mail on 127.0.0.1; answers ``MAIL FROM`` with 451 for the first ``refuse`` transactions."""

    refuse: int = 0
    mails: list[Mail] = field(default_factory=list)
    refused: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        sender, recipients = "", list[str]()
        try:
            await say("220 localhost test SMTP")
            while line := (await reader.readline()).decode().rstrip("\r\n"):
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    await say("250-localhost\r\n250 8BITMIME" if verb == "EHLO" else "250 localhost")
                elif verb == "MAIL":
                    if self.refused < self.refuse:
                        self.refused += 1
                        await say("451 4.3.0 try again later")
                        continue
                    sender, recipients = line.split(":", 1)[1].strip().split()[0].strip("<>"), []
                    await say("250 OK")
                elif verb == "RCPT":
                    recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                    await say("250 OK")
                elif verb == "DATA":
                    await say("354 end with <CRLF>.<CRLF>")
                    data = b""
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    message = message_from_bytes(data, policy=policy.default)
                    assert isinstance(message, EmailMessage)
                    self.mails.append(Mail(sender, recipients, message))
                    await say("250 OK queued")
                elif verb in ("RSET", "NOOP"):
                    await say("250 OK")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 not implemented")
        finally:
            writer.close()
