"""Put the packaged check-up Questionnaires into the FHIR store, and find Questionnaires by canonical URL.

Spec: canonical references https://hl7.org/fhir/R4/references.html#canonical (``url|version``),
conditional create / update https://hl7.org/fhir/R4/http.html#ccreate and
https://hl7.org/fhir/R4/http.html#cond-update (here: matched on ``url`` and ``version``).

:func:`install_forms` is idempotent: a form already stored with the same ``url`` and ``version`` and
the same content is left alone (no new version); one stored with other content is updated in place;
a missing one is created with the id ``checkup-<group>-<sex>-<version>``. All forms are written in one
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from senhealth.checkup.forms.catalogue import all_forms, find_form
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, StoreTx

__all__ = ["Installed", "install_forms", "resolve_questionnaire"]


@dataclass(frozen=True, slots=True)
class Installed:
    """What :func:`install_forms` did with one form."""

    canonical: str  # url|version
    id: str
    action: Literal["created", "updated", "unchanged"]


def _query(canonical: str) -> list[tuple[str, str]]:
    url, _, version = canonical.partition("|")
    params = [("url", url)]
    if version:
        params.append(("version", version))
    return params


async def _stored(tx: StoreTx, canonical: str) -> list[dict[str, Any]]:
    request = parse_search("Questionnaire", [*_query(canonical), ("_count", "2")])
    result = await search(tx.conn, request, await tx.store.param_ids())
    return [row.content for row in result.matches]


async def install_forms(store: FhirStore) -> list[Installed]:
    """Create or update every packaged check-up form in ``store`` (matched by ``url|version``)."""
    done: list[Installed] = []
    async with store.transaction() as tx:
        for form in all_forms():
            canonical = f"{form['url']}|{form['version']}"
            found = await _stored(tx, canonical)
            if len(found) > 1:
                raise LookupError(f"{canonical}: stored more than once; remove the copies first")
            if found:
                form["id"] = found[0]["id"]
            stored, created = await tx.update(form)
            if created:
                action: Literal["created", "updated", "unchanged"] = "created"
            elif found and stored.version != int(found[0]["meta"]["versionId"]):
                action = "updated"
            else:
                action = "unchanged"
            done.append(Installed(canonical, stored.res_id, action))
    return done


async def resolve_questionnaire(store: FhirStore, canonical: str) -> dict[str, Any] | None:
    """The Questionnaire ``canonical`` names: a packaged form first, else one stored (``url|version``;
    the plain ``url`` picks the stored one with the latest ``version`` text)."""
    packaged = find_form(canonical)
    if packaged is not None:
        return packaged
    async with store.transaction() as tx:
        request = parse_search("Questionnaire", [*_query(canonical), ("_count", "50")])
        result = await search(tx.conn, request, await store.param_ids())
    rows = [row.content for row in result.matches]
    if not rows:
        return None
    return max(rows, key=lambda r: str(r.get("version", "")))
