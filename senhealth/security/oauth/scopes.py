"""SMART App Launch 2.0 scopes: parsing, v1 to v2 mapping, narrowing, and whether scopes permit an
interaction. Pure functions, no I/O.

Spec: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html

A clinical scope is ``<context>/<type>.<permissions>[?<query>]``:

- ``context``: ``patient`` (the record of the token's patient), ``user`` (what the user may see),
  ``system`` (a backend service);
- ``type``: a FHIR resource type or ``*``;
- ``permissions``: SMART v2 letters in the order ``c r u d s`` (``rs``, ``cruds``...), or the v1 forms
  ``read`` (= ``rs``), ``write`` (= ``cud``) and ``*`` (= ``cruds``);
- ``query``: optional search-parameter constraints (``patient/Observation.rs?category=laboratory``):
  the scope grants its letters only on resources that match the query.

Other scopes are kept as they are: ``openid fhirUser profile launch launch/patient launch/encounter
offline_access online_access`` and any ``launch/<name>``.

:func:`permits` answers the type-level question the access policy asks first (may this token
``search Observation`` at all?); :func:`constraints` lists the query constraints that then filter the
resources (empty: unconstrained). Interactions map to letters as the spec says: create ``c``; read,
vread and history ``r``; update and patch ``u``; delete ``d``; search ``s``. An ``operation`` needs
``r`` on its type (an operation that writes is checked again as the create or update it performs).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qsl

from senhealth.fhir.access import Action

__all__ = [
    "ACTION_LETTER",
    "ClinicalScope",
    "ScopeError",
    "constraints",
    "narrow",
    "parse_clinical_scope",
    "parse_scopes",
    "permits",
    "scope_string",
    "to_v2",
]

Context = Literal["patient", "user", "system"]

#: The SMART v2 permission letter of each interaction.
ACTION_LETTER: Final[dict[Action, str]] = {
    "create": "c",
    "read": "r",
    "history": "r",
    "update": "u",
    "delete": "d",
    "search": "s",
    "operation": "r",
}
_ORDER: Final = "cruds"
_V1: Final[dict[str, str]] = {"read": "rs", "write": "cud", "*": "cruds"}
_CLINICAL = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<perm>[a-z*]+)(?:\?(?P<query>.+))?$"
)
_LETTERS = re.compile(r"^c?r?u?d?s?$")

#: The non-clinical scopes this server understands.
OTHER_SCOPES: Final = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)


class ScopeError(ValueError):
    """A scope that looks like a clinical scope but breaks the grammar."""


@dataclass(frozen=True, slots=True)
class ClinicalScope:
    """One parsed clinical scope; ``permissions`` holds v2 letters in spec order."""

    context: Context
    resource_type: str  # a FHIR type or "*"
    permissions: str
    query: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        text = f"{self.context}/{self.resource_type}.{self.permissions}"
        if self.query:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.query)
        return text

    def applies_to(self, res_type: str | None) -> bool:
        return self.resource_type == "*" or self.resource_type == res_type

    def covers(self, other: ClinicalScope) -> bool:
        """Whether every access ``other`` grants is granted by this scope too."""
        return (
            self.context == other.context
            and (self.resource_type == "*" or self.resource_type == other.resource_type)
            and set(other.permissions) <= set(self.permissions)
            and set(self.query) <= set(other.query)
        )


def _letters(perm: str, scope: str) -> str:
    if perm in _V1:
        return _V1[perm]
    if not perm or not _LETTERS.match(perm):
        raise ScopeError(f"{scope!r}: permissions must be read, write, * or letters in the order c r u d s")
    return perm


def parse_clinical_scope(scope: str) -> ClinicalScope | None:
    """The clinical scope ``scope``, or None when it is not one (``openid``, ``launch/patient``...).

    Raises :class:`ScopeError` for a malformed clinical scope (``patient/Observation.rx``,
    ``patient/Observation.sr``, ``user/observation.read``).
    """
    head = scope.split("/", 1)[0]
    if head not in ("patient", "user", "system") or "." not in scope:
        if head in ("user", "system") or (head == "patient" and "." in scope):
            raise ScopeError(f"{scope!r} is not a SMART clinical scope")
        return None
    m = _CLINICAL.match(scope)
    if m is None:
        raise ScopeError(f"{scope!r} is not a SMART clinical scope")
    query: tuple[tuple[str, str], ...] = ()
    if m.group("query"):
        pairs = parse_qsl(m.group("query"), keep_blank_values=False, strict_parsing=False)
        if not pairs:
            raise ScopeError(f"{scope!r}: the query constraint is empty")
        query = tuple(sorted(pairs))
    context: Context = m.group("context")  # type: ignore[assignment]
    return ClinicalScope(context, m.group("type"), _letters(m.group("perm"), scope), query)


@dataclass(frozen=True, slots=True)
class ParsedScopes:
    """A scope string split into clinical scopes and the others."""

    clinical: tuple[ClinicalScope, ...]
    other: frozenset[str]

    def __contains__(self, name: object) -> bool:
        return name in self.other


def parse_scopes(scopes: str | Iterable[str]) -> ParsedScopes:
    """Parse a space-separated scope string (or the scopes one by one); raises :class:`ScopeError`."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    clinical: list[ClinicalScope] = []
    other: set[str] = set()
    for item in items:
        parsed = parse_clinical_scope(item)
        if parsed is None:
            other.add(item)
        else:
            clinical.append(parsed)
    return ParsedScopes(tuple(clinical), frozenset(other))


def to_v2(scope: str) -> str:
    """``scope`` with v1 permissions written as v2 letters (``patient/*.read`` -> ``patient/*.rs``)."""
    parsed = parse_clinical_scope(scope)
    return scope if parsed is None else str(parsed)


def scope_string(scopes: Iterable[str]) -> str:
    """Scopes as one space-separated string, without duplicates, in their first order."""
    return " ".join(dict.fromkeys(scopes))


def _clinical(scopes: str | Iterable[str] | ParsedScopes) -> tuple[ClinicalScope, ...]:
    if isinstance(scopes, ParsedScopes):
        return scopes.clinical
    out: list[ClinicalScope] = []
    for item in scopes.split() if isinstance(scopes, str) else scopes:
        try:
            parsed = parse_clinical_scope(item)
        except ScopeError:
            continue  # a malformed scope grants nothing
        if parsed is not None:
            out.append(parsed)
    return tuple(out)


def permits(
    scopes: str | Iterable[str] | ParsedScopes,
    action: Action,
    res_type: str | None,
    *,
    contexts: Collection[Context] | None = None,
) -> bool:
    """Whether ``scopes`` grant ``action`` on ``res_type`` (type level; see :func:`constraints`).

    ``res_type`` None is a system-level interaction (``GET /``, ``GET /_history``): it needs a
    wildcard scope (``*``). ``contexts`` limits the scopes considered (a token without a patient
    context never uses its ``patient/`` scopes).
    """
    letter = ACTION_LETTER[action]
    for scope in _clinical(scopes):
        if contexts is not None and scope.context not in contexts:
            continue
        if letter in scope.permissions and (scope.resource_type == "*" or scope.resource_type == res_type):
            return True
    return False


def constraints(
    scopes: str | Iterable[str] | ParsedScopes,
    action: Action,
    res_type: str,
    *,
    contexts: Collection[Context] | None = None,
) -> list[tuple[tuple[str, str], ...]] | None:
    """The query constraints under which ``scopes`` grant ``action`` on ``res_type``.

    None: not granted at all; ``[]``: granted without constraint; otherwise a resource must match at
    least one of the listed constraint sets (each a conjunction of ``(param, value)``).
    """
    letter = ACTION_LETTER[action]
    found: list[tuple[tuple[str, str], ...]] = []
    granted = False
    for scope in _clinical(scopes):
        if contexts is not None and scope.context not in contexts:
            continue
        if letter in scope.permissions and scope.applies_to(res_type):
            granted = True
            if not scope.query:
                return []
            found.append(scope.query)
    return found if granted else None


def narrow(requested: str | Iterable[str], allowed: str | Iterable[str]) -> list[str]:
    """The requested scopes that ``allowed`` covers, in v2 form (SMART lets a server grant fewer).

    A clinical scope is kept when an allowed one covers it (``user/*.cruds`` covers
    ``user/Observation.rs``); a v1 scope covered only in part keeps the covered letters
    (``user/Patient.read`` under ``user/Patient.r`` becomes ``user/Patient.r``). Other scopes are kept
    when allowed by name. Malformed requested scopes are dropped.
    """
    allowed_parsed = parse_scopes(allowed)
    out: list[str] = []
    for item in requested.split() if isinstance(requested, str) else requested:
        try:
            parsed = parse_clinical_scope(item)
        except ScopeError:
            continue
        if parsed is None:
            if item in allowed_parsed.other:
                out.append(item)
            continue
        letters = set()
        for grant in allowed_parsed.clinical:
            if grant.covers(
                ClinicalScope(parsed.context, parsed.resource_type, grant.permissions, parsed.query)
            ):
                letters |= set(parsed.permissions) & set(grant.permissions)
        if letters:
            kept = "".join(c for c in _ORDER if c in letters)
            out.append(str(ClinicalScope(parsed.context, parsed.resource_type, kept, parsed.query)))
    return list(dict.fromkeys(out))
