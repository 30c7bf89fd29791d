"""Paging cursors: the opaque ``_cursor`` token of a search's ``next`` link.

Spec: https://hl7.org/fhir/R4/search.html#count ("the server ... returns links to the next page"; the
link's content is the server's own business) and https://hl7.org/fhir/R4/http.html#paging.

A cursor is keyset paging, not OFFSET: it holds the sort-key values and the ``rid`` of the last row of the
page, and the next page is "rows after that position in (sort keys..., rid) order". Rows that existed when
paging began are each returned exactly once however many rows are inserted meanwhile (a new row lands
before or after the cursor and is returned or not, but never shifts the others). The token also holds
the fingerprint of the query (types, conditions, sort) so that it cannot be replayed against another
search, and a format version. It is URL-safe base64 of compact JSON; values are typed (``t`` text, ``d``
instant, ``n`` decimal, ``i`` integer) and checked against the sort's kinds when decoded, so a tampered
cursor yields a 400, never a database error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from senhealth.fhir.search.query.errors import SearchError

__all__ = ["CURSOR_VERSION", "Position", "decode_cursor", "encode_cursor"]

CURSOR_VERSION = 1
SortValue = str | datetime | Decimal | int | None
_KIND = {"text": "t", "timestamptz": "d", "numeric": "n", "bigint": "i"}


@dataclass(frozen=True, slots=True)
class Position:
    """Where the previous page ended: one value per sort key (``None``: that row had no value)."""

    values: tuple[SortValue, ...]


def _encode_value(value: SortValue) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    if isinstance(value, bool):  # pragma: no cover - never a sort value
        raise TypeError(value)
    if isinstance(value, int):
        return ["i", value]
    return ["t", value]


def encode_cursor(fingerprint: str, values: tuple[SortValue, ...]) -> str:
    """The token for "after the row whose sort keys are ``values``" in the query ``fingerprint``."""
    payload = {"v": CURSOR_VERSION, "q": fingerprint, "k": [_encode_value(v) for v in values]}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad(why: str) -> SearchError:
    return SearchError(
        f"_cursor is not valid for this search ({why}): start again from the first page", "_cursor"
    )


def _decode_value(item: Any, kind: str) -> SortValue:
    if item is None:
        return None
    if not isinstance(item, list) or len(item) != 2 or item[0] != _KIND[kind]:
        raise _bad("a sort value has the wrong type")
    tag, raw = item
    try:
        if tag == "d" and isinstance(raw, str):
            found = datetime.fromisoformat(raw)
            if found.tzinfo is None:
                raise ValueError(raw)
            return found
        if tag == "n" and isinstance(raw, str):
            d = Decimal(raw)
            if not d.is_finite():
                raise ValueError(raw)
            return d
        if tag == "i" and isinstance(raw, int) and not isinstance(raw, bool) and -(2**63) <= raw < 2**63:
            return raw
        if tag == "t" and isinstance(raw, str) and "\x00" not in raw:
            return raw
    except (ValueError, InvalidOperation) as exc:
        raise _bad("a sort value does not parse") from exc
    raise _bad("a sort value has the wrong type")


def decode_cursor(token: str, fingerprint: str, kinds: tuple[str, ...]) -> Position:
    """Check and decode a token made by :func:`encode_cursor` for the same query.

    ``kinds`` are the SQL types of the sort keys (``text``, ``timestamptz``, ``numeric``, ``bigint``).
    Raises :class:`SearchError` (on ``_cursor``) for anything else.
    """
    if len(token) > 8192:
        raise _bad("too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _bad("not a cursor") from exc
    if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION:
        raise _bad("not a cursor of this server version")
    if payload.get("q") != fingerprint:
        raise _bad("it belongs to another query")
    items = payload.get("k")
    if not isinstance(items, list) or len(items) != len(kinds):
        raise _bad("wrong number of sort values")
    return Position(tuple(_decode_value(item, kind) for item, kind in zip(items, kinds, strict=True)))
