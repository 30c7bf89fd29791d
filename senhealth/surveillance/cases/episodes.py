"""One person's evidence grouped into episodes, one case per disease and episode (pure, no database).

An episode of a disease starts with its first evidence; later evidence belongs to it while it comes at
most ``episode_days`` (the disease's, from the list in force) after the episode's last evidence; after a
longer gap it opens a new episode, a new case. What a case holds is derived from its evidence
(:mod:`.evidence`): the strongest classification, the strongest outcome, the earliest onset, the first
evidence's time (when the case was known: the reporting deadline runs from it), the most recent
diagnosis code. The list in force is chosen by the case's date: its onset, else the first evidence's date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from senhealth.surveillance.cases.evidence import RANK, Evidence, stronger_outcome, vn_date
from senhealth.surveillance.notifiable.lists import Disease, NotifiableList, deadline_after, list_on

__all__ = ["Episode", "episodes"]


@dataclass(frozen=True, slots=True)
class Episode:
    """A case as the evidence shows it."""

    disease: Disease
    notifiable_list: NotifiableList
    evidence: tuple[Evidence, ...]  # sorted by time
    onset: date | None
    diagnosed_at: datetime
    case_date: date
    first_evidence: date
    last_evidence: date
    classification: str
    outcome: str
    icd10: str
    deadline_at: datetime

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.ref for e in self.evidence))

    @property
    def patients(self) -> tuple[str, ...]:
        return tuple(sorted({e.patient for e in self.evidence}))


def _episode(items: list[Evidence]) -> Episode | None:
    onsets = [e.onset for e in items if e.onset is not None]
    onset = min(onsets) if onsets else None
    diagnosed_at = min(e.at for e in items)
    case_date = onset if onset is not None else vn_date(diagnosed_at)
    lst = list_on(case_date)
    disease = lst.diseases.get(items[0].disease)
    if disease is None:  # notifiable under another list, not under the one in force on the case's date
        return None
    classification = max((e.classification for e in items), key=lambda c: RANK[c])
    outcome = "unknown"
    for e in items:
        outcome = stronger_outcome(outcome, e.outcome)
    coded = [e for e in items if e.kind != "lab"]
    icd10 = coded[-1].code if coded else ""
    days = [vn_date(e.at) for e in items]
    return Episode(
        disease=disease,
        notifiable_list=lst,
        evidence=tuple(items),
        onset=onset,
        diagnosed_at=diagnosed_at,
        case_date=case_date,
        first_evidence=min(days),
        last_evidence=max(days),
        classification=classification,
        outcome=outcome,
        icd10=icd10,
        deadline_at=deadline_after(disease.deadline, diagnosed_at),
    )


def episodes(evidence: Iterable[Evidence]) -> list[Episode]:
    """The episodes of ``evidence`` (one person's, all diseases), by disease then time."""
    by_disease: dict[str, list[Evidence]] = defaultdict(list)
    for e in evidence:
        by_disease[e.disease].append(e)
    out: list[Episode] = []
    for key in sorted(by_disease):
        items = sorted(by_disease[key], key=lambda e: (e.at, e.ref))
        first = list_on(vn_date(items[0].at)).diseases.get(key)
        gap = timedelta(days=first.episode_days if first is not None else 30)
        current: list[Evidence] = []
        for e in items:
            if current and e.at - max(x.at for x in current) > gap:
                if (ep := _episode(current)) is not None:
                    out.append(ep)
                current = []
            current.append(e)
        if current and (ep := _episode(current)) is not None:
            out.append(ep)
    return out
