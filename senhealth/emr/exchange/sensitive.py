"""Sensitive data that never leaves in the electronic health book: the rules, as data, with their sources.

Spec: https://hl7.org/fhir/R4/security-labels.html (``meta.security``: confidentiality codes
http://terminology.hl7.org/CodeSystem/v3-Confidentiality ``R`` restricted / ``V`` very restricted, and the
sensitivity policies of http://terminology.hl7.org/CodeSystem/v3-ActCode: ``HIV``, ``PSY``, ``SDV``...).

Why (``vietnam.md`` §3): the signed claim data feeds the citizen's health book on VNeID (Decisions
1332/2024, 2733/2024, 31/2026) and "sensitive data (e.g. HIV) must be filtered out first". The Law on
HIV/AIDS Prevention (64/2006/QH11, amended by 71/2020/QH14) keeps a person's HIV status and test
results confidential; HIV care travels in its own claim table (XML6). Personal Data Protection Law
91/2025 counts health data as sensitive. No published list says which codes the Ministry filters: the
code lists below are the project's, each rule naming what it rests on. Mental-health diagnoses (ICD-10
chapter F) are *not* filtered: no source found says the health book leaves them out; the rule is
listed, switched off, so that a province can switch it on (:func:`rules` ``enable=``).

:func:`is_sensitive` answers for one resource; :class:`SensitiveFilter` applies the rules to a whole
record, removing also what only points at removed resources (an Encounter whose every diagnosis is
sensitive, a DiagnosticReport of HIV results) and the references to removed resources from what stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Final

from senhealth.emr.documents.values import ICD10_SYSTEMS, codings

__all__ = [
    "ATC_SYSTEM",
    "RULES",
    "SensitiveFilter",
    "SensitiveRule",
    "is_sensitive",
    "matching_rule",
    "rules",
    "text_is_sensitive",
]

ATC_SYSTEM: Final = "http://www.whocc.no/atc"
LOINC: Final = "http://loinc.org"
CONFIDENTIALITY: Final = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


@dataclass(frozen=True, slots=True)
class SensitiveRule:
    """One rule: a resource is sensitive when one of its codes (``code``, ``medicationCodeableConcept``,
    ``vaccineCode``, ``reasonCode``...) is under an ``icd10`` prefix, is one of ``loinc``, is under an
    ``atc`` prefix, when a text (code text or display, a conclusion, a string value) matches ``text``
    (a note that matches is removed, the resource kept), or when its
    ``meta.security`` carries one of ``security`` (``(system, code)``)."""

    key: str
    title_vi: str
    title_en: str
    source: str
    icd10: tuple[str, ...] = ()
    loinc: tuple[str, ...] = ()
    atc: tuple[str, ...] = ()
    text: str | None = None
    security: tuple[tuple[str, str], ...] = ()
    enabled: bool = True

    def pattern(self) -> re.Pattern[str] | None:
        return None if self.text is None else _compiled(self.text)


@lru_cache(maxsize=64)
def _compiled(text: str) -> re.Pattern[str]:
    return re.compile(text)


_HIV_LAW = (
    "Law on HIV/AIDS Prevention 64/2006/QH11 (amended 71/2020/QH14): HIV status and test results are "
    "confidential; vietnam.md §3: sensitive data (e.g. HIV) filtered out before the VNeID health book"
)

RULES: Final[tuple[SensitiveRule, ...]] = (
    SensitiveRule(
        key="hiv-diagnosis",
        title_vi="Chẩn đoán liên quan HIV",
        title_en="HIV-related diagnoses",
        source=_HIV_LAW
        + "; ICD-10: B20–B24 HIV disease, Z21 asymptomatic HIV infection status, R75 laboratory evidence of "
        "HIV, O98.7 HIV disease complicating pregnancy, Z20.6 contact with or exposure to HIV, Z11.4 screening "
        "for HIV, Z71.7 HIV counselling",
        icd10=("B20", "B21", "B22", "B23", "B24", "Z21", "R75", "O98.7", "Z20.6", "Z11.4", "Z71.7"),
    ),
    SensitiveRule(
        key="hiv-laboratory",
        title_vi="Xét nghiệm HIV",
        title_en="HIV laboratory tests",
        source=_HIV_LAW
        + "; LOINC codes of HIV antibody, antigen, RNA and genotype tests (loinc.org, component 'HIV'), and "
        "any test whose name says HIV",
        loinc=(
            "7917-8",  # HIV 1 Ab [Presence] in Serum
            "7918-6",  # HIV 1+2 Ab [Presence] in Serum
            "5221-7",  # HIV 1 Ab [Presence] in Serum by Immunoblot
            "31201-7",  # HIV 1+2 Ab [Presence] in Serum or Plasma
            "56888-1",  # HIV 1+2 Ab+HIV 1 p24 Ag [Presence] in Serum or Plasma by Immunoassay
            "75622-1",  # HIV 1+2 Ab+HIV 1 p24 Ag [Presence] in Serum or Plasma by Immunoassay
            "80387-4",  # HIV 1+2 Ab+HIV 1 p24 Ag, rapid immunoassay
            "68961-2",  # HIV 1 Ab [Presence] in Serum, Plasma or Blood by Rapid immunoassay
            "25835-0",  # HIV 1 RNA [Presence] in Serum or Plasma by NAA
            "20447-9",  # HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA
            "25836-8",  # HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection
            "10351-5",  # HIV 1 RNA [Units/volume] (viral load) in Plasma by NAA
            "48345-3",  # HIV 1 RNA [Presence] in Serum or Plasma by NAA with probe detection
            "29893-5",  # HIV 1 Ab [Presence] in Serum or Plasma by Immunoassay
            "30361-0",  # HIV 2 Ab [Presence] in Serum or Plasma by Immunoassay
        ),
        text=r"(?i)\bHIV\b|\bAIDS\b",
    ),
    SensitiveRule(
        key="hiv-antiretroviral",
        title_vi="Thuốc kháng vi rút HIV (ARV)",
        title_en="Antiretroviral drugs",
        source=_HIV_LAW
        + "; WHO ATC: J05AE protease inhibitors, J05AF nucleoside reverse-transcriptase inhibitors, J05AG "
        "non-nucleoside reverse-transcriptase inhibitors, J05AJ integrase inhibitors, J05AR antiviral "
        "combinations for HIV, and the HIV drugs of J05AX (enfuvirtide, raltegravir, maraviroc, dolutegravir, "
        "ibalizumab, fostemsavir, lenacapavir). J05AF also holds hepatitis B drugs (entecavir, tenofovir): "
        "they are withheld too, erring on the side of confidentiality",
        atc=(
            "J05AE",
            "J05AF",
            "J05AG",
            "J05AJ",
            "J05AR",
            "J05AX07",
            "J05AX08",
            "J05AX09",
            "J05AX12",
            "J05AX23",
            "J05AX29",
            "J05AX31",
        ),
        text=r"(?i)\bARV\b|kháng retro|antiretrovir",
    ),
    SensitiveRule(
        key="security-label",
        title_vi="Dữ liệu được gắn nhãn hạn chế",
        title_en="Resources labelled restricted or sensitive",
        source="https://hl7.org/fhir/R4/security-labels.html: the recording system marked the resource "
        "restricted (v3-Confidentiality R, V) or under a sensitivity policy (v3-ActCode: HIV, mental health, "
        "substance use, sexual and domestic violence, sexually transmitted disease, genetic disease...); "
        "Personal Data Protection Law 91/2025: health data is sensitive",
        security=(
            (CONFIDENTIALITY, "R"),
            (CONFIDENTIALITY, "V"),
            (CONFIDENTIALITY, "HIV"),
            (CONFIDENTIALITY, "PSY"),
            (CONFIDENTIALITY, "SDV"),
            (CONFIDENTIALITY, "ETH"),
            *(
                (ACT_CODE, code)
                for code in (
                    "HIV",
                    "STD",
                    "SEX",
                    "SDV",
                    "VIO",
                    "ETH",
                    "SUD",
                    "ETHUD",
                    "OPIOIDUD",
                    "PSY",
                    "PSYTHPN",
                    "MH",
                    "BH",
                    "SPI",
                    "GDIS",
                    "SCA",
                    "SICKLE",
                    "TBOO",
                    "MST",
                )
            ),
        ),
    ),
    SensitiveRule(
        key="mental-health",
        title_vi="Rối loạn tâm thần và hành vi (chương F)",
        title_en="Mental and behavioural disorders (ICD-10 chapter F)",
        source="No Vietnamese source found that withholds them from the health book; retention rules treat "
        "psychiatric records apart (20 years, vietnam.md §2). Off unless a province switches it on",
        icd10=("F",),
        enabled=False,
    ),
)


def rules(*, enable: Iterable[str] = (), disable: Iterable[str] = ()) -> tuple[SensitiveRule, ...]:
    """:data:`RULES` with the named rules switched on or off (``KeyError`` for an unknown name)."""
    on, off = set(enable), set(disable)
    known = {r.key for r in RULES}
    for name in on | off:
        if name not in known:
            raise KeyError(f"unknown sensitivity rule {name!r}; known: {', '.join(sorted(known))}")
    return tuple(replace(r, enabled=(r.key in on) or (r.enabled and r.key not in off)) for r in RULES)


_CODE_KEYS: Final = (
    "code",
    "medicationCodeableConcept",
    "vaccineCode",
    "reasonCode",
    "valueCodeableConcept",
    "type",
    "conclusionCode",
)


def _concepts(resource: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = []
    for key in _CODE_KEYS:
        value = resource.get(key)
        out += value if isinstance(value, list) else [value]
    for comp in resource.get("component") or []:
        if isinstance(comp, Mapping):
            out.append(comp.get("code"))
    return [c for c in out if isinstance(c, Mapping)]


def _texts(resource: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for concept in _concepts(resource):
        if isinstance(concept.get("text"), str):
            out.append(concept["text"])
        out += [str(c["display"]) for c in codings(concept) if isinstance(c.get("display"), str)]
    for key in ("conclusion", "description", "valueString"):
        if isinstance(resource.get(key), str):
            out.append(resource[key])
    return out


def text_is_sensitive(text: str, active: Sequence[SensitiveRule] = RULES) -> bool:
    """Whether free text (a note, a reason) matches the text pattern of an enabled rule."""
    return any(r.enabled and (p := r.pattern()) is not None and p.search(text) for r in active)


def _icd_match(code: str, prefixes: Sequence[str]) -> bool:
    """``B20.7`` is under ``B20``; ``F32`` under ``F``; ``O98.7`` only under ``O98.7`` (or ``O98``)."""
    code = code.upper()
    return any(code.startswith(p) for p in prefixes)


def matching_rule(
    resource: Mapping[str, Any], active: Sequence[SensitiveRule] = RULES
) -> SensitiveRule | None:
    """The first enabled rule ``resource`` falls under, or None."""
    concepts = _concepts(resource)
    labels = {
        (str(s.get("system")), str(s.get("code")))
        for s in (resource.get("meta") or {}).get("security") or []
        if isinstance(s, Mapping)
    }
    texts: list[str] | None = None
    for rule in active:
        if not rule.enabled:
            continue
        if rule.security and labels & set(rule.security):
            return rule
        for concept in concepts:
            for c in codings(concept):
                system, code = c.get("system"), c.get("code")
                if not isinstance(code, str):
                    continue
                if rule.icd10 and system in ICD10_SYSTEMS and _icd_match(code, rule.icd10):
                    return rule
                if rule.loinc and system == LOINC and code in rule.loinc:
                    return rule
                if rule.atc and system == ATC_SYSTEM and code.upper().startswith(rule.atc):
                    return rule
        pattern = rule.pattern()
        if pattern is not None:
            texts = _texts(resource) if texts is None else texts
            if any(pattern.search(t) for t in texts):
                return rule
    return None


def is_sensitive(resource: Mapping[str, Any], active: Sequence[SensitiveRule] = RULES) -> bool:
    """Whether one enabled rule covers ``resource``."""
    return matching_rule(resource, active) is not None


@dataclass
class SensitiveFilter:
    """The rules applied to a set of resources (see the module docstring). ``removed``: ``Type/id`` ->
    the rule's key, for the report of what was withheld (never shipped with the extract)."""

    active: Sequence[SensitiveRule] = RULES
    removed: dict[str, str] = field(default_factory=dict)

    def apply(
        self, resources: list[dict[str, Any]], providers: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """What stays of ``resources``, with references to removed ones taken out. ``providers``: the
        names of the organisations encounters name as ``serviceProvider`` (``Organization/id`` -> name):
        a visit to a facility whose name falls under a rule (an HIV clinic) is withheld whole."""
        names = providers or {}
        for r in resources:
            rule = matching_rule(r, self.active)
            if rule is None and r.get("resourceType") == "Encounter":
                provider = str((r.get("serviceProvider") or {}).get("reference"))
                if provider in names:
                    rule = matching_rule({"code": {"text": names[provider]}}, self.active)
            if rule is not None:
                self.removed[f"{r.get('resourceType')}/{r.get('id')}"] = rule.key
        # a report whose results are all withheld, an encounter whose every diagnosis is: withheld too
        for r in resources:
            key = f"{r.get('resourceType')}/{r.get('id')}"
            if key in self.removed:
                continue
            targets = self._only_refs(r)
            if targets and all(t in self.removed for t in targets):
                self.removed[key] = self.removed[targets[0]]
        # what happened in a withheld visit is withheld with it
        for r in resources:
            key = f"{r.get('resourceType')}/{r.get('id')}"
            link = r.get("encounter") or r.get("context")
            encounter = str(link.get("reference")) if isinstance(link, Mapping) else ""
            if key not in self.removed and encounter in self.removed:
                self.removed[key] = self.removed[encounter]
        return [
            self._strip(r) for r in resources if f"{r.get('resourceType')}/{r.get('id')}" not in self.removed
        ]

    @staticmethod
    def _only_refs(resource: Mapping[str, Any]) -> list[str]:
        rtype = resource.get("resourceType")
        if rtype == "DiagnosticReport":
            return [str(x.get("reference")) for x in resource.get("result") or [] if isinstance(x, Mapping)]
        if rtype == "Encounter":
            return [
                str((d.get("condition") or {}).get("reference"))
                for d in resource.get("diagnosis") or []
                if isinstance(d, Mapping)
            ]
        return []

    def _strip(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A copy without the narrative (it may name what was withheld), without references to withheld
        resources, without sensitive reasons and notes."""
        out = {k: v for k, v in resource.items() if k != "text"}
        if out.get("resourceType") == "Encounter":
            out["diagnosis"] = [
                d
                for d in out.get("diagnosis") or []
                if str((d.get("condition") or {}).get("reference")) not in self.removed
            ]
            if not out["diagnosis"]:
                del out["diagnosis"]
            out["reasonReference"] = [
                r for r in out.get("reasonReference") or [] if str(r.get("reference")) not in self.removed
            ]
            if not out["reasonReference"]:
                del out["reasonReference"]
            reasons = [c for c in out.get("reasonCode") or [] if not is_sensitive({"code": c}, self.active)]
            if reasons:
                out["reasonCode"] = reasons
            else:
                out.pop("reasonCode", None)
        if out.get("resourceType") == "DiagnosticReport":
            out["result"] = [
                r for r in out.get("result") or [] if str(r.get("reference")) not in self.removed
            ]
            if not out["result"]:
                del out["result"]
        notes = [
            n
            for n in out.get("note") or []
            if not (isinstance(n, Mapping) and text_is_sensitive(str(n.get("text") or ""), self.active))
        ]
        if notes:
            out["note"] = notes
        else:
            out.pop("note", None)
        return out
