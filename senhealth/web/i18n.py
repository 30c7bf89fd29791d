"""Languages of the pages: Vietnamese (the default) and English.

Message catalogues are gettext ``.po`` files in ``senhealth/web/locale/<lang>/LC_MESSAGES/messages.po``,
read at start-up with Babel's ``read_po`` (no compile step): https://babel.pocoo.org/en/latest/api/messages/pofile.html
Message ids are English; the English catalogue may leave ``msgstr`` empty (the id is shown). Templates
call ``_("...")``; Python code calls :meth:`Translator.gettext`. Extraction: see docs/web.md.

The language of a request: ``?lang=`` (then remembered in the ``lang`` cookie), else the ``lang``
cookie, else the settings' default (``vi``). Dates are ``dd/mm/yyyy`` in Vietnamese, Babel's medium
format in English, in the settings' time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from starlette.requests import Request

__all__ = ["LANGUAGES", "N_", "Translator", "catalogue", "language_of", "parse_when", "translator"]

LANGUAGES: Final = ("vi", "en")
LOCALE_DIR: Final = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Mark ``message`` for extraction; translated later, where it is shown."""
    return message


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid -> msgstr of ``lang`` (only translated, non-fuzzy entries)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        cat = read_po(f, locale=lang)
    out: dict[str, str] = {}
    for message in cat:
        ok = isinstance(message.id, str) and isinstance(message.string, str)
        if ok and message.id and message.string and not message.fuzzy:
            out[str(message.id)] = str(message.string)
    return out


def parse_when(value: str | None) -> dt.datetime | dt.date | None:
    """A FHIR date or dateTime as Python (None when absent or unreadable)."""
    if not value:
        return None
    try:
        if len(value) == 4:
            return dt.date(int(value), 1, 1)
        if len(value) == 7:
            return dt.date(int(value[:4]), int(value[5:7]), 1)
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Translator:
    """The messages and formats of one language."""

    lang: str
    zone: str = "Asia/Ho_Chi_Minh"

    def gettext(self, message: str, **values: object) -> str:
        text = catalogue(self.lang).get(message, message)
        return text.format(**values) if values else text

    def date(self, value: str | dt.date | dt.datetime | None) -> str:
        when = parse_when(value) if isinstance(value, str) else value
        if when is None:
            return "" if value is None else str(value)
        if isinstance(when, dt.datetime):
            if when.tzinfo is not None:
                when = when.astimezone(ZoneInfo(self.zone))
            when = when.date()
        if self.lang == "vi":
            return f"{when:%d/%m/%Y}"
        return format_date(when, "medium", locale="en")

    def datetime(self, value: str | dt.datetime | None) -> str:
        when = parse_when(value) if isinstance(value, str) else value
        if when is None:
            return "" if value is None else str(value)
        if not isinstance(when, dt.datetime):
            return self.date(when)
        if when.tzinfo is not None:
            when = when.astimezone(ZoneInfo(self.zone))
        if self.lang == "vi":
            return f"{when:%d/%m/%Y %H:%M}"
        return format_datetime(when, "d MMM yyyy HH:mm", locale="en")


@cache
def translator(lang: str, zone: str = "Asia/Ho_Chi_Minh") -> Translator:
    return Translator(lang if lang in LANGUAGES else "vi", zone)


def language_of(request: Request, default: str = "vi") -> str:
    """The request's language (see the module docstring)."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get("lang")
    if cookie in LANGUAGES:
        return cookie
    return default if default in LANGUAGES else "vi"
