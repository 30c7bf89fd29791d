"""CDS Hooks 1.0 cards: summary, detail, indicator, source, suggestions with actions, links.

Spec: https://cds-hooks.hl7.org/1.0/#cds-service-response (card attributes; ``summary`` under 140
characters; ``indicator`` ``info`` | ``warning`` | ``critical``; ``selectionBehavior`` ``at-most-one``,
required when there are suggestions; an action's ``type`` ``create`` | ``update`` | ``delete``, with the
new resource for ``create`` and the id (``MedicationRequest/1``) for ``delete``).

Language: every text is written in Vietnamese and English (:class:`Text`). The ``summary`` is in one
language, Vietnamese unless the request's ``Accept-Language`` prefers English (:func:`language`); the
``detail`` carries the chosen language first and the other one after a rule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["Action", "Card", "Indicator", "Language", "Link", "Source", "Suggestion", "Text", "language"]

Language = Literal["vi", "en"]
Indicator = Literal["info", "warning", "critical"]
#: The spec's limit is "<140 characters".
MAX_SUMMARY: Final = 139


def language(accept_language: str | None) -> Language:
    """``en`` when English is preferred over Vietnamese in an ``Accept-Language`` header, else ``vi``."""
    best: tuple[float, Language] | None = None
    for part in (accept_language or "").split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        q = 1.0
        for p in pieces[1:]:
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        if primary in ("vi", "en") and q > 0 and (best is None or q > best[0]):
            best = (q, "vi" if primary == "vi" else "en")
    return best[1] if best else "vi"


@dataclass(frozen=True, slots=True)
class Text:
    vi: str
    en: str

    def pick(self, lang: Language) -> str:
        return self.vi if lang == "vi" else self.en

    def both(self, lang: Language) -> str:
        first, second = (self.vi, self.en) if lang == "vi" else (self.en, self.vi)
        return f"{first}\n\n---\n\n{second}"


@dataclass(frozen=True, slots=True)
class Source:
    label: str
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label}
        if self.url:
            out["url"] = self.url
        return out


@dataclass(frozen=True, slots=True)
class Action:
    type: Literal["create", "update", "delete"]
    description: Text
    resource: dict[str, Any] | str | None = None

    def to_json(self, lang: Language) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": self.description.pick(lang)}
        if self.resource is not None:
            out["resource"] = self.resource
        return out


@dataclass(frozen=True, slots=True)
class Suggestion:
    label: Text
    actions: tuple[Action, ...] = ()

    def to_json(self, lang: Language) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label.pick(lang), "uuid": str(uuid.uuid4())}
        if self.actions:
            out["actions"] = [a.to_json(lang) for a in self.actions]
        return out


@dataclass(frozen=True, slots=True)
class Link:
    label: Text
    url: str
    type: Literal["absolute", "smart"] = "absolute"

    def to_json(self, lang: Language) -> dict[str, Any]:
        return {"label": self.label.pick(lang), "url": self.url, "type": self.type}


@dataclass(frozen=True, slots=True)
class Card:
    summary: Text
    indicator: Indicator
    source: Source
    detail: Text | None = None
    suggestions: tuple[Suggestion, ...] = ()
    links: tuple[Link, ...] = field(default=())

    def to_json(self, lang: Language) -> dict[str, Any]:
        summary = self.summary.pick(lang)
        if len(summary) > MAX_SUMMARY:
            summary = summary[: MAX_SUMMARY - 1].rstrip() + "…"
        out: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": summary,
            "indicator": self.indicator,
            "source": self.source.to_json(),
        }
        if self.detail is not None:
            out["detail"] = self.detail.both(lang)
        if self.suggestions:
            out["suggestions"] = [s.to_json(lang) for s in self.suggestions]
            out["selectionBehavior"] = "at-most-one"
        if self.links:
            out["links"] = [link.to_json(lang) for link in self.links]
        return out
