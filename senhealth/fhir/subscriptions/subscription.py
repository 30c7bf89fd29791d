"""A topic-based Subscription as the R4 Backport profile writes it: read and checked.

Spec: the R4/B Topic-Based Subscription profile
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/StructureDefinition-backport-subscription.html
(``criteria`` = the topic's canonical URL, filters in ``_criteria`` extensions ``backport-filter-criteria``,
``channel.payload`` with the ``backport-payload-content`` extension, and on ``channel`` the extensions
``backport-heartbeat-period``, ``backport-timeout``, ``backport-max-count``), R4 Subscription
https://hl7.org/fhir/R4/subscription.html (``channel.type`` ``rest-hook`` | ``websocket`` | ``email`` |
``sms`` | ``message``: the websocket channel is an R4 code, no extension needed) and
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#accepting-subscription-requests (what
a server checks before accepting one).

:func:`read_subscription` answers a :class:`SubscriptionSpec`, or raises
:class:`~senhealth.fhir.store.InvalidResource` (422) whose ``expression`` names the faulty element.
Choices: only the shipped topics (:mod:`.topics`); channels ``rest-hook`` and ``websocket``; payload MIME
type ``application/fhir+json`` or ``application/json`` (FHIR version 4.0 when a ``fhirVersion`` parameter
is given); ``backport-payload-content`` defaults to ``id-only`` when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from senhealth.fhir.store import InvalidResource
from senhealth.fhir.subscriptions.config import get_config
from senhealth.fhir.subscriptions.filter_criteria import Filter, FilterError, parse_filters
from senhealth.fhir.subscriptions.topic import SubscriptionTopic
from senhealth.fhir.subscriptions.topics import topic_by_url

__all__ = [
    "CONTENT_EXT",
    "FILTER_EXT",
    "HEARTBEAT_EXT",
    "MAX_COUNT_EXT",
    "PROFILE",
    "TIMEOUT_EXT",
    "SubscriptionSpec",
    "read_subscription",
]

_IG: Final = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
PROFILE: Final = _IG + "backport-subscription"
FILTER_EXT: Final = _IG + "backport-filter-criteria"
CONTENT_EXT: Final = _IG + "backport-payload-content"
HEARTBEAT_EXT: Final = _IG + "backport-heartbeat-period"
TIMEOUT_EXT: Final = _IG + "backport-timeout"
MAX_COUNT_EXT: Final = _IG + "backport-max-count"
CHANNEL_TYPE_EXT: Final = _IG + "backport-channel-type"
CHANNELS: Final = ("rest-hook", "websocket")
CONTENTS: Final = ("empty", "id-only", "full-resource")
MIME_TYPES: Final = ("application/fhir+json", "application/json")
STATUSES: Final = ("requested", "active", "error", "off")


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """What a Subscription asks for, checked."""

    topic: SubscriptionTopic
    filters: tuple[Filter, ...]
    status: str
    channel: str  # rest-hook | websocket
    endpoint: str | None
    mime: str
    content: str  # empty | id-only | full-resource
    headers: tuple[tuple[str, str], ...]
    heartbeat_s: int | None
    timeout_s: float
    max_count: int
    end: str | None

    def channel_key(self) -> tuple[Any, ...]:
        """What a new handshake depends on: a change re-activates the subscription."""
        return (self.channel, self.endpoint, self.mime, self.headers)


def _bad(message: str, path: str) -> InvalidResource:
    return InvalidResource(message, expression=path, status=422)


def _extensions(element: Any, url: str) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(element, dict):
        return []
    return [
        (i, e)
        for i, e in enumerate(element.get("extension") or [])
        if isinstance(e, dict) and e.get("url") == url
    ]


def _one_int(channel: dict[str, Any], url: str, key: str, name: str) -> tuple[int | None, str]:
    found = _extensions(channel, url)
    if not found:
        return None, ""
    if len(found) > 1:
        raise _bad(f"at most one {name} extension", f"Subscription.channel.extension[{found[1][0]}]")
    i, ext = found[0]
    path = f"Subscription.channel.extension[{i}].{key}"
    value = ext.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"the {name} extension needs an integer {key}", path)
    return value, path


def read_subscription(resource: dict[str, Any]) -> SubscriptionSpec:
    """The checked request of a backport Subscription (module docstring); 422 naming the faulty element."""
    cfg = get_config()
    criteria = resource.get("criteria")
    if not isinstance(criteria, str) or not criteria:
        raise _bad("criteria must be the canonical URL of a subscription topic", "Subscription.criteria")
    topic = topic_by_url(criteria)
    if topic is None:
        raise _bad(
            f"unknown subscription topic {criteria[:200]!r}: see GET [base]/SubscriptionTopic",
            "Subscription.criteria",
        )
    texts: list[str] = []
    for i, ext in _extensions(resource.get("_criteria"), FILTER_EXT):
        value = ext.get("valueString")
        if not isinstance(value, str):
            raise _bad(
                "a filter criteria extension needs a valueString", f"Subscription.criteria.extension[{i}]"
            )
        texts.append(value)
    try:
        filters = parse_filters(texts, topic)
    except FilterError as e:
        where = _extensions(resource.get("_criteria"), FILTER_EXT)[e.index][0]
        raise _bad(str(e), f"Subscription.criteria.extension[{where}].valueString") from None
    status = resource.get("status")
    if status not in STATUSES:
        raise _bad(f"status must be one of {', '.join(STATUSES)}", "Subscription.status")
    channel = resource.get("channel")
    if not isinstance(channel, dict):
        raise _bad("a subscription needs a channel", "Subscription.channel")
    kind = channel.get("type")
    if kind not in CHANNELS:
        raise _bad(
            f"channel type {str(kind)[:40]!r} is not supported: rest-hook or websocket",
            "Subscription.channel.type",
        )
    if _extensions(channel.get("_type"), CHANNEL_TYPE_EXT):
        raise _bad("custom channel types are not supported", "Subscription.channel.type.extension")
    endpoint = channel.get("endpoint")
    if kind == "rest-hook":
        endpoint = _endpoint(endpoint, cfg.allow_http)
    elif endpoint is not None and not isinstance(endpoint, str):
        raise _bad("channel.endpoint must be a URL", "Subscription.channel.endpoint")
    mime = _mime(channel.get("payload"))
    content = "id-only"
    found = _extensions(channel.get("_payload"), CONTENT_EXT)
    if found:
        i, ext = found[0]
        content = ext.get("valueCode")  # type: ignore[assignment]
        if content not in CONTENTS:
            raise _bad(
                f"payload content must be one of {', '.join(CONTENTS)}",
                f"Subscription.channel.payload.extension[{i}]",
            )
    headers: list[tuple[str, str]] = []
    for i, header in enumerate(channel.get("header") or []):
        name, sep, value = header.partition(":") if isinstance(header, str) else ("", "", "")
        if (
            not sep
            or not name.strip()
            or any(c in name for c in " \t\r\n")
            or any(c in value for c in "\r\n")
        ):
            raise _bad("a channel header is 'Name: value'", f"Subscription.channel.header[{i}]")
        headers.append((name.strip(), value.strip()))
    heartbeat, hb_path = _one_int(channel, HEARTBEAT_EXT, "valueUnsignedInt", "backport-heartbeat-period")
    if heartbeat is not None and heartbeat < cfg.min_heartbeat_s:
        raise _bad(f"the heartbeat period must be at least {cfg.min_heartbeat_s} s", hb_path)
    timeout, to_path = _one_int(channel, TIMEOUT_EXT, "valueUnsignedInt", "backport-timeout")
    if timeout is not None and timeout < 1:
        raise _bad("the timeout must be at least 1 s", to_path)
    max_count, mc_path = _one_int(channel, MAX_COUNT_EXT, "valuePositiveInt", "backport-max-count")
    if max_count is not None and max_count < 1:
        raise _bad("max-count must be a positive integer", mc_path)
    end = resource.get("end")
    return SubscriptionSpec(
        topic=topic,
        filters=tuple(filters),
        status=str(status),
        channel=str(kind),
        endpoint=endpoint if isinstance(endpoint, str) else None,
        mime=mime,
        content=content,
        headers=tuple(headers),
        heartbeat_s=heartbeat,
        timeout_s=min(float(timeout), cfg.max_timeout_s) if timeout is not None else cfg.timeout_s,
        max_count=min(max_count, cfg.max_count_cap) if max_count is not None else cfg.max_count,
        end=end if isinstance(end, str) else None,
    )


def _endpoint(endpoint: Any, allow_http: bool) -> str:
    path = "Subscription.channel.endpoint"
    if not isinstance(endpoint, str) or not endpoint:
        raise _bad("a rest-hook channel needs an endpoint URL", path)
    parts = urlsplit(endpoint)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise _bad(f"the endpoint must be an absolute {' or '.join(schemes)} URL", path)
    return endpoint


def _mime(payload: Any) -> str:
    path = "Subscription.channel.payload"
    if payload is None:
        return "application/fhir+json"
    if not isinstance(payload, str):
        raise _bad("channel.payload must be a MIME type", path)
    base, *params = (p.strip() for p in payload.split(";"))
    if base.lower() not in MIME_TYPES:
        raise _bad(f"payload {payload[:60]!r} is not supported: {' or '.join(MIME_TYPES)}", path)
    for p in params:
        key, _, value = p.partition("=")
        if key.strip().lower() == "fhirversion" and value.strip() not in ("4.0", "4.0.1"):
            raise _bad("notifications are sent in FHIR 4.0 only", path)
    return payload
