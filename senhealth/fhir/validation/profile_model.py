"""What a profile changes: a StructureDefinition read into per-element overrides of the base model.

Spec: https://hl7.org/fhir/R4/profiling.html, https://hl7.org/fhir/R4/structuredefinition.html
(snapshot and differential), https://hl7.org/fhir/R4/elementdefinition.html (min/max, type,
fixed[x], pattern[x], binding, constraint, slicing: https://hl7.org/fhir/R4/profiling.html#slicing).

A profile here is the set of elements where it is *stricter* than the R4 definition it derives from,
keyed by element id with choice type slices folded into the variant name
(``Observation.value[x]:valueQuantity`` → ``Observation.valueQuantity``), e.g.
``Patient.identifier`` (min 1), ``Patient.identifier.system`` (fixedUri),
``Patient.identifier:cccd`` (a slice) and ``Patient.identifier:cccd.value``. The base checks always
run; a profile adds to them and can never loosen them. A snapshot is read whole (elements equal to the
base are dropped); a differential is laid over its base: the R4 type, or a profile registered earlier
(copied at registration: re-registering the base later does not update it).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from senhealth.fhir.model import Binding, Constraint, ElementInfo, get_model

__all__ = ["CORE_PREFIX", "ElementOverride", "Profile", "Slicing", "parse_profile", "resolve_element"]

CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True, slots=True)
class Slicing:
    """``ElementDefinition.slicing``: how items of a repeating element are told apart."""

    discriminators: tuple[tuple[str, str], ...]  # (type, path)
    rules: str  # closed | open | openAtEnd
    ordered: bool


@dataclass(slots=True)
class ElementOverride:
    """The constraints a profile adds to one element (``None``: as in the base)."""

    key: str
    min: int | None = None
    max: int | None = None
    max_set: bool = False  # max given (None with max_set: "*")
    types: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    type_profiles: tuple[str, ...] = ()
    fixed: tuple[str, Any] | None = None
    pattern: tuple[str, Any] | None = None
    binding: Binding | None = None
    constraints: tuple[Constraint, ...] = ()
    slicing: Slicing | None = None
    slices: list[str] = field(default_factory=list)
    slice_name: str | None = None

    def merge(self, other: ElementOverride) -> None:
        """Lay ``other`` (from a differential) over this one."""
        for name in ("min", "types", "targets", "fixed", "pattern", "binding", "slicing", "slice_name"):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)
        if other.max_set:
            self.max, self.max_set = other.max, True
        if other.type_profiles:
            self.type_profiles = other.type_profiles
        keys = {c.key for c in self.constraints}
        self.constraints += tuple(c for c in other.constraints if c.key not in keys)
        for s in other.slices:
            if s not in self.slices:
                self.slices.append(s)


class Profile:
    """A registered profile: its canonical URL, the type it constrains and its overrides."""

    def __init__(self, url: str, type_name: str, elements: dict[str, ElementOverride]) -> None:
        self.url = url
        self.type = type_name
        self.elements = elements
        self._under: set[str] = set()
        for key in elements:
            parts = key.split(".")
            for i in range(1, len(parts)):
                self._under.add(".".join(parts[:i]))

    def get(self, key: str) -> ElementOverride | None:
        return self.elements.get(key)

    def has_under(self, key: str) -> bool:
        """Whether the profile constrains anything below the element ``key``."""
        return key in self._under


def _split(path: str) -> list[str]:
    """Split an element id on dots outside slice names (``a.b:x/y.c`` → ``[a, b:x/y, c]``)."""
    return path.split(".")


def resolve_element(path: str) -> tuple[ElementInfo | None, str | None]:
    """The R4 element at an element path that may cross into datatypes (``Patient.identifier.system``)
    or name a choice variant (``Observation.valueQuantity``); also the variant's type, if any."""
    model = get_model()
    parts = _split(path)
    type_path: str | None = parts[0]
    el: ElementInfo | None = None
    variant: str | None = None
    for part in parts[1:]:
        if type_path is None:
            return None, None
        name = part[:-3] if part.endswith("[x]") else part
        el = model.child(type_path, name)
        variant = None
        if el is None:
            for kid in model.children(type_path).values():
                if kid.choice and name.startswith(kid.name):
                    for json_name, t in kid.json_names():
                        if json_name == name:
                            el, variant = kid, t
            if el is None:
                return None, None
        if variant is not None:
            type_path = variant
        elif el.type_path is not None:
            type_path = el.type_path
        elif el.choice and len(el.types) == 1:
            type_path = el.types[0]
        else:
            type_path = None
    return el, variant


def _normalize_id(raw: str) -> str:
    """Fold choice type slices (``value[x]:valueQuantity`` → ``valueQuantity``)."""
    out: list[str] = []
    for part in _split(raw):
        if "[x]:" in part:
            base, _, slice_name = part.partition("[x]:")
            if slice_name.startswith(base) and slice_name[len(base) : len(base) + 1].isupper():
                part = slice_name
        out.append(part)
    return ".".join(out)


def _strip_slices(key: str) -> str:
    """``Patient.identifier:cccd.system`` → ``Patient.identifier.system``."""
    return ".".join(part.partition(":")[0] for part in _split(key))


def _type_name(url: str, registry: dict[str, Profile]) -> str:
    if url.startswith(CORE_PREFIX):
        return url[len(CORE_PREFIX) :]
    known = registry.get(url)
    return known.type if known is not None else url


def _override(
    el: dict[str, Any], key: str, base: ElementInfo | None, registry: dict[str, Profile]
) -> ElementOverride | None:
    over = ElementOverride(key=key)
    changed = False
    slice_name = el.get("sliceName")
    if slice_name and "[x]:" not in str(el.get("id", "")):
        over.slice_name = slice_name
        changed = True
    base_min = base.min if base is not None else 0
    base_max = base.max if base is not None else None
    if "min" in el and (el["min"] > base_min or over.slice_name):
        over.min, changed = int(el["min"]), True
    if "max" in el:
        new_max = None if el["max"] == "*" else int(el["max"])
        if over.slice_name or (new_max is not None and (base_max is None or new_max < base_max)):
            over.max, over.max_set, changed = new_max, True, True
    types = el.get("type")
    if types:
        codes = tuple(dict.fromkeys(t["code"] for t in types if "code" in t))
        if base is None or set(codes) != set(base.types):
            over.types, changed = codes, True
        targets = tuple(
            dict.fromkeys(_type_name(p, registry) for t in types for p in t.get("targetProfile", ()))
        )
        if targets and (base is None or set(targets) != set(base.targets)):
            over.targets, changed = targets, True
        profiles = tuple(p for t in types for p in t.get("profile", ()))
        if profiles:
            over.type_profiles, changed = profiles, True
    for name, value in el.items():
        if name.startswith("fixed") and name != "fixed":
            over.fixed, changed = (name, value), True
        elif name.startswith("pattern") and name != "pattern":
            over.pattern, changed = (name, value), True
    binding = el.get("binding")
    if isinstance(binding, dict) and binding.get("valueSet"):
        b = Binding(binding.get("strength", "example"), binding["valueSet"].split("|")[0])
        if base is None or base.binding != b:
            over.binding, changed = b, True
    base_keys = {c.key for c in base.constraints} if base is not None else set()
    extra = tuple(
        Constraint(c["key"], c.get("severity", "error"), c["expression"], c.get("human", ""))
        for c in el.get("constraint", ())
        if c.get("expression") and c.get("key") not in base_keys
    )
    if extra:
        over.constraints, changed = extra, True
    slicing = el.get("slicing")
    if isinstance(slicing, dict):
        over.slicing = Slicing(
            discriminators=tuple(
                (d.get("type", ""), d.get("path", "")) for d in slicing.get("discriminator", ())
            ),
            rules=slicing.get("rules", "open"),
            ordered=bool(slicing.get("ordered", False)),
        )
        changed = True
    return over if changed else None


def parse_profile(sd: dict[str, Any], registry: dict[str, Profile]) -> Profile:
    """Read a StructureDefinition (snapshot, or differential on an R4 type or a registered profile)."""
    if not isinstance(sd, dict) or sd.get("resourceType") != "StructureDefinition":
        raise ValueError("not a StructureDefinition")
    url = sd.get("url")
    type_name = sd.get("type")
    if not isinstance(url, str) or not url or not isinstance(type_name, str):
        raise ValueError("a profile needs a url and a type")
    if type_name not in get_model().types:
        raise ValueError(f"unknown type {type_name!r}")
    base_url = sd.get("baseDefinition", CORE_PREFIX + type_name)
    snapshot = (sd.get("snapshot") or {}).get("element")
    elements_in = snapshot or (sd.get("differential") or {}).get("element")
    if not elements_in:
        raise ValueError("a profile needs a snapshot or a differential")
    elements: dict[str, ElementOverride] = {}
    if not snapshot and not base_url.startswith(CORE_PREFIX):
        base_profile = registry.get(base_url)
        if base_profile is None:
            raise ValueError(f"unknown base profile {base_url!r}: register it first")
        if base_profile.type != type_name:
            raise ValueError(f"base profile constrains {base_profile.type}, not {type_name}")
        elements = copy.deepcopy(base_profile.elements)
    for el in elements_in:
        path = el.get("path")
        if not isinstance(path, str) or not (path == type_name or path.startswith(type_name + ".")):
            raise ValueError(f"element path {path!r} is not in {type_name}")
        raw_id = el.get("id") or (path + (":" + el["sliceName"] if el.get("sliceName") else ""))
        key = _normalize_id(raw_id)
        if "." in path:
            base = resolve_element(_strip_slices(key))[0] or resolve_element(_normalize_id(path))[0]
        else:
            base = get_model().types[type_name].root
        if "." in path and base is None:
            raise ValueError(f"unknown element {path!r}")
        over = _override(el, key, base, registry)
        if over is None:
            continue
        if key in elements:
            elements[key].merge(over)
        else:
            elements[key] = over
        if over.slice_name:
            parent_key = key.rsplit(":", 1)[0]
            parent = elements.setdefault(parent_key, ElementOverride(key=parent_key))
            if over.slice_name not in parent.slices:
                parent.slices.append(over.slice_name)
    return Profile(url, type_name, elements)
