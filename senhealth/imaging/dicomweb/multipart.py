"""``multipart/related`` bodies of DICOMweb: reading a STOW-RS request, writing WADO-RS responses.

Spec: RFC 2387 (multipart/related), RFC 2046 §5.1.1 (boundaries, the ``CRLF--boundary`` delimiter, the
closing ``--boundary--``), PS3.18 §8.6.1.2 (DICOMweb's use: each part ``Content-Type: application/dicom``)
https://dicom.nema.org/medical/dicom/current/output/chtml/part18/sect_8.6.html.

Written by hand: the standard library's e-mail parser decodes text and is slow on large binary parts, and
python-multipart handles form-data only. Parts are split on the delimiter with ``bytes.find``, without
copying them more than once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["MultipartError", "Part", "boundary_of", "media_type_params", "new_boundary", "parse", "stream"]

_PARAM: Final = re.compile(r';\s*([A-Za-z0-9_.+-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


class MultipartError(ValueError):
    """A body that is not the multipart/related it claims to be."""


@dataclass(frozen=True, slots=True)
class Part:
    content_type: str
    headers: dict[str, str]
    data: bytes


def media_type_params(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; a=b; c="d"`` as (``type/subtype`` lower-cased, {name lower-cased: value unquoted})."""
    media = value.split(";", 1)[0].strip().lower()
    params = {}
    for name, raw in _PARAM.findall(value):
        params[name.lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
    return media, params


def boundary_of(content_type: str) -> str:
    media, params = media_type_params(content_type)
    if media != "multipart/related":
        raise MultipartError(f"expected multipart/related, not {media or 'nothing'}")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise MultipartError("the multipart/related Content-Type has no boundary")
    return boundary


def parse(body: bytes, content_type: str) -> list[Part]:
    """The parts of a multipart/related ``body``."""
    boundary = boundary_of(content_type).encode("latin-1")
    delimiter = b"\r\n--" + boundary
    data = b"\r\n" + body  # the first delimiter may start the body
    start = data.find(delimiter)
    if start < 0:
        raise MultipartError("the boundary is not in the body")
    parts: list[Part] = []
    pos = start + len(delimiter)
    while True:
        if data.startswith(b"--", pos):
            return parts  # the closing delimiter
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            break
        header_end = data.find(b"\r\n\r\n", eol)
        if header_end < 0:
            raise MultipartError("a part has no end of headers")
        headers: dict[str, str] = {}
        for line in data[eol + 2 : header_end].split(b"\r\n"):
            if not line:
                continue
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise MultipartError(f"a malformed part header: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        content_start = header_end + 4
        end = data.find(delimiter, content_start)
        if end < 0:
            raise MultipartError("the body ends before the closing boundary")
        parts.append(Part(headers.get("content-type", ""), headers, data[content_start:end]))
        pos = end + len(delimiter)
    raise MultipartError("the body ends before the closing boundary")


def new_boundary() -> str:
    return f"senhealth-{secrets.token_hex(12)}"


async def stream(
    parts: AsyncIterator[tuple[str, bytes]] | Iterable[tuple[str, bytes]], boundary: str
) -> AsyncIterator[bytes]:
    """A multipart/related body from (content type, bytes) parts, a part at a time."""
    head = f"--{boundary}\r\n".encode()
    if isinstance(parts, AsyncIterator):
        async for content_type, data in parts:
            yield head + f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            yield data
            yield b"\r\n"
    else:
        for content_type, data in parts:
            yield head + f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            yield data
            yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
