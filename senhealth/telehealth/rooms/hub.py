"""The signalling server's rooms: who is in which room, and the relay of their messages.

Spec: WebRTC's offer/answer and trickle ICE are the peers' business (https://www.w3.org/TR/webrtc/,
RFC 8829 JSEP, RFC 8838 trickle ICE); this hub only carries their messages between the participants of
one room, as JSON over a WebSocket (RFC 6455; close codes 4000-4999 are the application's, §7.4.2).
Why by hand: signalling has no standard protocol, and a relay of a few JSON messages needs no library.

Messages ``{"type", "from", "to", "sdp", "candidate", "text"}``:

- ``join`` (first message of a connection): the hub answers the newcomer
  ``{"type": "join", "from": <you>, "you": <you>, "room", "participants": [{"id", "name"}...]}`` (everyone,
  the newcomer included) and tells each other participant ``{"type": "join", "from": <newcomer>, "name",
  "participants"}``. The newcomer then makes an offer to each participant already there (the others wait
  for it: no glare in the mesh);
- ``offer``, ``answer``, ``candidate``: relayed to ``to`` (a participant in the room), or to everyone else
  when ``to`` is absent;
- ``chat``: ``text`` (1..``max_chat_chars`` characters) relayed likewise, with ``name``, ``id`` and
  ``sent``; kept through the ``on_chat`` callback (a Communication, :mod:`.chat`) when one is given;
- ``leave``: the participant is gone; the others get ``{"type": "leave", "from", "participants"}``; the
  same is announced when a connection drops.

``from`` is always the participant of the connection's room token, whatever the client wrote. A bad
message is answered ``{"type": "error", "code", "text"}`` and the connection stays open.

Limits: ``max_participants`` (4) per room: one more is told ``room-full`` and closed with
:data:`CLOSE_ROOM_FULL`. A participant connecting again (same identity: a reconnection after a network
drop, or a second tab) replaces the old connection, which is closed with :data:`CLOSE_REPLACED`, and the
others get a ``join`` of it again (they drop their old peer connection and wait for the new offer). Each
connection has its own bounded outbox drained by its own task, so one slow participant never holds up
the others; one whose outbox overflows is closed with :data:`CLOSE_TOO_SLOW`.

One process: rooms live in this process's memory. Several API workers need a shared bus between them
(PostgreSQL ``LISTEN``/``NOTIFY``, which the platform already uses, or sticky routing by room); see
docs/telehealth-video.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from senhealth.telehealth.rooms.config import VideoConfig
from senhealth.telehealth.rooms.tokens import RoomClaims

__all__ = [
    "CLOSE_REPLACED",
    "CLOSE_ROOM_FULL",
    "CLOSE_TOO_SLOW",
    "CLOSE_UNAUTHORIZED",
    "MESSAGE_TYPES",
    "ChatMessage",
    "ChatSink",
    "RoomHub",
    "Session",
]

log = logging.getLogger(__name__)

#: No valid room token (none, expired, tampered, another room's).
CLOSE_UNAUTHORIZED: Final = 4401
#: The same participant connected again: this older connection is closed.
CLOSE_REPLACED: Final = 4409
#: The room already has ``max_participants``.
CLOSE_ROOM_FULL: Final = 4429
#: The connection did not read its messages fast enough (its outbox overflowed).
CLOSE_TOO_SLOW: Final = 4408
MESSAGE_TYPES: Final = frozenset({"join", "offer", "answer", "candidate", "leave", "chat"})
_RELAYED: Final = frozenset({"offer", "answer", "candidate"})
_OUTBOX: Final = 1024

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat message as relayed: ``to`` empty means everyone else in the room."""

    id: str
    room: str
    sender: str
    name: str
    text: str
    to: tuple[str, ...]
    sent: dt.datetime


ChatSink = Callable[[RoomClaims, ChatMessage], Awaitable[None]]


def _dump(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


@dataclass(eq=False)
class Session:
    """One WebSocket connection of one participant (see the module docstring)."""

    hub: RoomHub
    claims: RoomClaims
    _send: Send
    _close: Close
    joined: bool = False
    closing: bool = False
    _outbox: asyncio.Queue[tuple[str, int, str]] = field(default_factory=lambda: asyncio.Queue(_OUTBOX))
    _writer: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return self.claims.participant

    @property
    def room(self) -> str:
        return self.claims.room

    async def __aenter__(self) -> Session:
        self._writer = asyncio.create_task(self._write(), name=f"room-writer:{self.room}:{self.id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.hub._disconnected(self)
        self.closing = True
        if self._writer is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(("", 0, ""))  # stop after what is queued
            try:
                await asyncio.wait_for(self._writer, timeout=2)
            except (TimeoutError, asyncio.CancelledError):
                self._writer.cancel()
        self.done.set()

    async def _write(self) -> None:
        try:
            while True:
                text, code, reason = await self._outbox.get()
                if code:
                    with contextlib.suppress(Exception):
                        await self._close(code, reason)
                    self.done.set()
                    return
                if not text:
                    return
                await self._send(text)
        except Exception:  # the socket went away: the reader sees the disconnect
            log.debug("room %s: sending to %s failed", self.room, self.id, exc_info=True)
            self.done.set()

    def push(self, message: dict[str, Any]) -> None:
        """Queue ``message`` for this connection (never waits)."""
        if self.closing:
            return
        try:
            self._outbox.put_nowait((_dump(message), 0, ""))
        except asyncio.QueueFull:
            log.warning("room %s: %s does not keep up, closing it", self.room, self.id)
            self.hub._disconnected(self)
            self._end(CLOSE_TOO_SLOW, "too slow")

    def close(self, code: int, reason: str, message: dict[str, Any] | None = None) -> None:
        """Send ``message`` (if any) after what is queued, then close with ``code``."""
        if self.closing:
            return
        if message is not None:
            self.push(message)
        self._end(code, reason)

    def _end(self, code: int, reason: str) -> None:
        self.closing = True
        try:
            self._outbox.put_nowait(("", code, reason))
        except asyncio.QueueFull:  # the outbox is full of what it will never read: drop it
            while not self._outbox.empty():
                self._outbox.get_nowait()
            self._outbox.put_nowait(("", code, reason))

    def error(self, code: str, text: str) -> None:
        self.push({"type": "error", "code": code, "text": text})

    async def receive(self, raw: str) -> None:
        """Handle one message from the client."""
        if self.closing:
            return
        config = self.hub.config
        if len(raw.encode()) > config.max_message_bytes:
            self.error("too-large", f"Messages are at most {config.max_message_bytes} bytes")
            return
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.error("bad-message", "A message is a JSON object")
            return
        if not isinstance(message, dict):
            self.error("bad-message", "A message is a JSON object")
            return
        kind = message.get("type")
        if kind not in MESSAGE_TYPES:
            self.error("bad-type", f"type must be one of {', '.join(sorted(MESSAGE_TYPES))}")
            return
        if kind == "join":
            self.hub._join(self)
            return
        if not self.joined:
            self.error("join-first", "Send join first")
            return
        if kind == "leave":
            self.hub._leave(self, "left")
            self.close(1000, "left")
            return
        to = message.get("to")
        if to is not None and (
            not isinstance(to, str) or to == self.id or not self.hub._member(self.room, to)
        ):
            self.error("unknown-participant", "to must be another participant in the room")
            return
        if kind == "chat":
            await self._chat(message.get("text"), to)
            return
        out: dict[str, Any] = {"type": kind, "from": self.id}
        if to is not None:
            out["to"] = to
        for key in ("sdp", "candidate"):
            if key in message:
                out[key] = message[key]
        self.hub._relay(self, out, to)

    async def _chat(self, text: Any, to: str | None) -> None:
        limit = self.hub.config.max_chat_chars
        if not isinstance(text, str) or not text.strip() or len(text) > limit:
            self.error("bad-chat", f"text must be 1 to {limit} characters")
            return
        chat = ChatMessage(
            id=uuid.uuid4().hex,
            room=self.room,
            sender=self.id,
            name=self.claims.name,
            text=text,
            to=(to,) if to else tuple(p for p in self.hub.participants(self.room) if p != self.id),
            sent=dt.datetime.now(dt.UTC),
        )
        out: dict[str, Any] = {
            "type": "chat",
            "from": self.id,
            "name": chat.name,
            "text": text,
            "id": chat.id,
            "sent": chat.sent.isoformat(),
        }
        if to is not None:
            out["to"] = to
        self.hub._relay(self, out, to)
        if self.hub.on_chat is not None:
            try:
                await self.hub.on_chat(self.claims, chat)
            except Exception:
                log.exception("room %s: the chat message could not be kept", self.room)
                self.error("chat-not-kept", "The message was sent but could not be kept in the record")


class RoomHub:
    """The rooms of this process (see the module docstring)."""

    def __init__(self, config: VideoConfig, *, on_chat: ChatSink | None = None) -> None:
        self.config = config
        self.on_chat = on_chat
        self._rooms: dict[str, dict[str, Session]] = {}

    def connect(self, claims: RoomClaims, send: Send, close: Close) -> Session:
        """A session for a connection admitted by ``claims`` (not in the room until it sends ``join``);
        use it as ``async with``: its writer runs inside."""
        return Session(self, claims, send, close)

    def participants(self, room: str) -> list[str]:
        """The participants in ``room`` now, in the order they joined."""
        return list(self._rooms.get(room, {}))

    def rooms(self) -> dict[str, list[str]]:
        return {room: list(members) for room, members in self._rooms.items()}

    def _member(self, room: str, participant: str) -> bool:
        return participant in self._rooms.get(room, {})

    def _listing(self, room: str) -> list[dict[str, str]]:
        return [{"id": s.id, "name": s.claims.name} for s in self._rooms.get(room, {}).values()]

    def _join(self, session: Session) -> None:
        members = self._rooms.setdefault(session.room, {})
        current = members.get(session.id)
        if current is session:  # join again: the answer again
            session.push(self._welcome(session))
            return
        if current is not None:
            del members[session.id]
            current.joined = False
            current.close(
                CLOSE_REPLACED,
                "replaced",
                {"type": "error", "code": "replaced", "text": "You joined this room from another connection"},
            )
        elif len(members) >= self.config.max_participants:
            limit = self.config.max_participants
            session.close(
                CLOSE_ROOM_FULL,
                "room full",
                {
                    "type": "error",
                    "code": "room-full",
                    "text": f"Phòng đã đủ {limit} người / The room is full ({limit} participants)",
                },
            )
            return
        members[session.id] = session
        session.joined = True
        session.push(self._welcome(session))
        listing = self._listing(session.room)
        for other in members.values():
            if other is not session:
                other.push(
                    {"type": "join", "from": session.id, "name": session.claims.name, "participants": listing}
                )

    def _welcome(self, session: Session) -> dict[str, Any]:
        return {
            "type": "join",
            "from": session.id,
            "you": session.id,
            "room": session.room,
            "participants": self._listing(session.room),
        }

    def _leave(self, session: Session, reason: str) -> None:
        members = self._rooms.get(session.room)
        if members is None or members.get(session.id) is not session:
            return
        del members[session.id]
        session.joined = False
        if not members:
            del self._rooms[session.room]
            return
        listing = self._listing(session.room)
        for other in members.values():
            other.push({"type": "leave", "from": session.id, "reason": reason, "participants": listing})

    def _disconnected(self, session: Session) -> None:
        self._leave(session, "disconnected")

    def _relay(self, session: Session, message: dict[str, Any], to: str | None) -> None:
        members = self._rooms.get(session.room, {})
        if to is not None:
            target = members.get(to)
            if target is not None:
                target.push(message)
            return
        for other in list(members.values()):
            if other is not session:
                other.push(message)
