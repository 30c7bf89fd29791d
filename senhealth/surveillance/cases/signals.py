"""Event-based signals: free-text reports of clusters or unusual events from commune stations.

Spec: https://hl7.org/fhir/R4/communication.html (``category``, ``payload.contentString``, ``sender``,
``sent``, ``reasonCode``). Event-based surveillance (WHO, "Early detection, assessment and response to
acute public health events", 2014) covers clusters of unexplained illness or death and unusual increases;
a commune station reports what it sees before any diagnosis exists.

A signal is a Communication with ``status = completed``, a ``category`` in :data:`CATEGORY_SYSTEM`
(:data:`CATEGORIES`), the text in ``payload[0].contentString``, the reporting station as ``sender``, the
place as the administrative-unit extension (province and commune codes, as Patient addresses carry them)
and optionally the suspected disease in ``reasonCode`` (the notifiable-disease key). It is outside every
patient's compartment. :func:`report_signal` writes one; the write hook indexes any such Communication
(REST writes too) into ``surveillance_signal`` for the line lists (:func:`signal_list`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.surveillance.cases.evidence import VN_TZ, fhir_datetime
from senhealth.surveillance.notifiable.forms import DISEASE_SYSTEM, SIGNAL_CATEGORY_SYSTEM
from senhealth.surveillance.series.population import ADMIN_UNIT_EXTENSION

if TYPE_CHECKING:
    from senhealth.fhir.store import FhirStore
    from senhealth.fhir.store.hooks import Write

__all__ = ["CATEGORIES", "CATEGORY_SYSTEM", "Signal", "index_write", "report_signal", "signal_list"]

CATEGORY_SYSTEM: Final = SIGNAL_CATEGORY_SYSTEM
#: code → (Vietnamese, English)
CATEGORIES: Final = {
    "cluster": ("Chùm ca bệnh", "Cluster of cases"),
    "unusual-increase": ("Số ca tăng bất thường", "Unusual increase"),
    "unexplained-death": ("Tử vong không rõ nguyên nhân", "Unexplained death"),
    "animal-die-off": ("Gia súc, gia cầm chết hàng loạt", "Animal die-off"),
    "other": ("Sự kiện bất thường khác", "Other unusual event"),
}


@dataclass(frozen=True, slots=True)
class Signal:
    signal_id: str
    category: str
    province: str
    commune: str
    sent_at: datetime
    sender: str
    text: str
    disease: str

    def as_json(self, lang: str = "vi") -> dict[str, Any]:
        names = CATEGORIES.get(self.category, (self.category, self.category))
        return {
            "type": "signal",
            "signalId": self.signal_id,
            "category": self.category,
            "categoryName": names[1] if lang == "en" else names[0],
            "province": self.province,
            "commune": self.commune,
            "sent": self.sent_at.astimezone(VN_TZ).isoformat(timespec="seconds"),
            "sender": self.sender,
            "text": self.text,
            "disease": self.disease,
        }


def _category(content: dict[str, Any]) -> str | None:
    for concept in content.get("category") or []:
        for c in concept.get("coding", ()) if isinstance(concept, dict) else ():
            if isinstance(c, dict) and c.get("system") == CATEGORY_SYSTEM and c.get("code"):
                return str(c["code"])
    return None


def _place(content: dict[str, Any]) -> tuple[str, str]:
    for ext in content.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == ADMIN_UNIT_EXTENSION:
            parts = {
                str(x.get("url")): str((x.get("valueCoding") or {}).get("code", ""))
                for x in ext.get("extension") or []
                if isinstance(x, dict)
            }
            return parts.get("province", ""), parts.get("commune", "")
    return "", ""


def _signal(res_id: str, content: dict[str, Any]) -> Signal | None:
    category = _category(content)
    if category is None or content.get("status") == "entered-in-error":
        return None
    province, commune = _place(content)
    text = " ".join(
        str(p.get("contentString", "")) for p in content.get("payload") or [] if isinstance(p, dict)
    ).strip()
    sender = content.get("sender")
    disease = ""
    for concept in content.get("reasonCode") or []:
        for c in concept.get("coding", ()) if isinstance(concept, dict) else ():
            if isinstance(c, dict) and c.get("system") == DISEASE_SYSTEM:
                disease = str(c.get("code", ""))
    return Signal(
        signal_id=res_id,
        category=category,
        province=province,
        commune=commune,
        sent_at=fhir_datetime(content.get("sent")) or datetime.now(UTC),
        sender=str(sender.get("reference", "")) if isinstance(sender, dict) else "",
        text=text,
        disease=disease,
    )


_UPSERT: Final = (
    "INSERT INTO surveillance_signal (signal_id, category, province, commune, sent_at, sender, text, disease, deleted)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false) ON CONFLICT (signal_id) DO UPDATE SET"
    " category = EXCLUDED.category, province = EXCLUDED.province, commune = EXCLUDED.commune,"
    " sent_at = EXCLUDED.sent_at, sender = EXCLUDED.sender, text = EXCLUDED.text,"
    " disease = EXCLUDED.disease, deleted = false"
)


async def _index(conn: AsyncConnection[TupleRow], res_id: str, content: dict[str, Any] | None) -> None:
    signal = _signal(res_id, content) if content is not None else None
    if signal is None:
        await conn.execute("UPDATE surveillance_signal SET deleted = true WHERE signal_id = %s", (res_id,))
        return
    s = signal
    await conn.execute(
        _UPSERT, (s.signal_id, s.category, s.province, s.commune, s.sent_at, s.sender, s.text, s.disease)
    )


async def index_write(conn: AsyncConnection[TupleRow], w: Write) -> None:
    """Index (or drop from the index) the Communication ``w`` wrote, when it is or was a signal."""
    if (w.content is not None and _category(w.content)) or (w.previous is not None and _category(w.previous)):
        await _index(conn, w.res_id, w.content)


def signal_resource(
    text: str, category: str, *, province: str = "", commune: str = "", sender: str | None = None,
    disease: str | None = None, sent: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The Communication of a signal (see the module docstring)."""
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r} is not one of {sorted(CATEGORIES)}")
    if not text.strip():
        raise ValueError("a signal needs a text")
    vi, _en = CATEGORIES[category]
    out: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category, "display": vi}]}],
        "sent": (sent or datetime.now(UTC)).astimezone(VN_TZ).isoformat(timespec="seconds"),
        "payload": [{"contentString": text.strip()}],
    }
    if province or commune:
        out["extension"] = [
            {
                "url": ADMIN_UNIT_EXTENSION,
                "extension": [
                    {
                        "url": "province",
                        "valueCoding": {
                            "system": "https://senhealth.vn/fhir/CodeSystem/province-2025",
                            "code": province,
                        },
                    },
                    {
                        "url": "commune",
                        "valueCoding": {
                            "system": "https://senhealth.vn/fhir/CodeSystem/commune-2025",
                            "code": commune,
                        },
                    },
                ],
            }
        ]
    if sender:
        out["sender"] = {"reference": sender}
    if disease:
        out["reasonCode"] = [{"coding": [{"system": DISEASE_SYSTEM, "code": disease}]}]
    return out


async def report_signal(
    store: FhirStore, text: str, category: str, *, province: str = "", commune: str = "",
    sender: str | None = None, disease: str | None = None, sent: datetime | None = None,
) -> Signal:  # fmt: skip
    """Write a signal (a Communication) and its index row in one transaction."""
    resource = signal_resource(
        text, category, province=province, commune=commune, sender=sender, disease=disease, sent=sent
    )
    async with store.transaction() as tx:
        stored = await tx.create(resource)
        await _index(tx.conn, stored.res_id, stored.content)
    signal = _signal(stored.res_id, stored.content or resource)
    assert signal is not None
    return signal


async def signal_list(
    conn: AsyncConnection[TupleRow], *, commune: str | None = None, province: str | None = None,
    start: date | None = None, end: date | None = None, disease: str | None = None,
) -> list[Signal]:  # fmt: skip
    """Signals sent from ``start`` to ``end`` (Viet Nam dates, inclusive), newest first."""
    lo = datetime(start.year, start.month, start.day, tzinfo=VN_TZ) if start else None
    hi = datetime(end.year, end.month, end.day, tzinfo=VN_TZ) + timedelta(days=1) if end else None
    cur = await conn.execute(
        "SELECT signal_id, category, province, commune, sent_at, sender, text, disease FROM surveillance_signal"
        " WHERE NOT deleted AND (%(c)s::text IS NULL OR commune = %(c)s) AND (%(p)s::text IS NULL OR province = %(p)s)"
        " AND (%(lo)s::timestamptz IS NULL OR sent_at >= %(lo)s) AND (%(hi)s::timestamptz IS NULL OR sent_at < %(hi)s)"
        " AND (%(d)s::text IS NULL OR disease = %(d)s OR disease = '') ORDER BY sent_at DESC, signal_id",
        {"c": commune, "p": province, "lo": lo, "hi": hi, "d": disease},
    )
    return [Signal(*row) for row in await cur.fetchall()]
