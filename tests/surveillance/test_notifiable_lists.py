"""The notifiable-disease lists as dated configuration: the switch on 1 July 2026, codes to diseases
(most specific code first), deadlines, sources on every entry, a replacement folder with inheritance,
the case report form, and evidence read from resources (pure, no database)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from surveillance_support import DENGUE_NS1, VN, at, condition, encounter, lab

from senhealth.surveillance.cases.episodes import episodes
from senhealth.surveillance.cases.evidence import evidence_of
from senhealth.surveillance.notifiable import forms, lists


@pytest.fixture
def own_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SENHEALTH_SURVEILLANCE_LISTS_DIR", str(tmp_path))
    lists.reload()
    try:
        yield tmp_path
    finally:
        monkeypatch.delenv("SENHEALTH_SURVEILLANCE_LISTS_DIR")
        lists.reload()


def test_the_list_in_force_switches_on_1_july_2026() -> None:
    assert lists.list_on(date(2026, 6, 30)).id == "tt54-2015"
    assert lists.list_on(date(2026, 7, 1)).id == "vn-2026"
    assert lists.list_on(date(2030, 1, 1)).id == "vn-2026"
    old, new = lists.list_by_id("tt54-2015"), lists.list_by_id("vn-2026")
    assert old is not None and new is not None
    assert old.valid_to == date(2026, 6, 30) and new.valid_from == date(2026, 7, 1)
    assert "54/2015" in old.instrument and "15/2026" in new.instrument
    assert not new.verified and "unverified" in new.source


def test_codes_map_to_diseases_groups_and_deadlines() -> None:
    day = date(2026, 3, 1)
    expect = {
        "A97.1": ("dengue", "B", "24h"),
        "A970": ("dengue", "B", "24h"),  # without its dot
        "A90": ("dengue", "B", "24h"),
        "B08.4": ("hfmd", "B", "24h"),
        "B05.9": ("measles", "B", "24h"),
        "A00.1": ("cholera", "A", "24h"),
        "A15.0": ("tuberculosis", "B", "48h"),
        "B54": ("malaria", "B", "48h"),
        "A83.0": ("japanese-encephalitis", "B", "24h"),  # the more specific code wins over A83
        "A83.1": ("viral-encephalitis", "B", "24h"),
        "J10.1": ("influenza", "B", "weekly"),
    }
    for code, (key, group, deadline) in expect.items():
        d = lists.disease_for_code(code, day)
        assert d is not None and (d.key, d.group, d.deadline) == (key, group, deadline), code
    assert lists.disease_for_code("A09", day) is None  # diarrhoea: not on the list
    assert lists.disease_for_code("B08.5", day) is None  # only B08.4 is HFMD
    assert lists.disease_for_code("I10", day) is None


def test_every_list_and_disease_says_its_source_and_whether_it_was_verified() -> None:
    for lst in lists.all_lists():
        assert lst.source
        for d in lst.diseases.values():
            assert d.source, d.key
            assert isinstance(d.verified, bool)
            assert d.name_vi and d.name_en and d.group in "ABC" and d.episode_days > 0
    raw = json.loads(
        (Path(lists.__file__).parent / "data" / "notifiable-tt54-2015.json").read_text(encoding="utf-8")
    )
    assert all("source" in d and "verified" in d for d in raw["diseases"])


def test_deadlines_24h_48h_and_weekly() -> None:
    start = datetime(2026, 3, 11, 15, 30, tzinfo=VN)  # a Wednesday
    assert lists.deadline_after("24h", start) == datetime(2026, 3, 12, 15, 30, tzinfo=VN)
    assert lists.deadline_after("48h", start) == datetime(2026, 3, 13, 15, 30, tzinfo=VN)
    # weekly: by the end of the Monday after the week
    assert lists.deadline_after("weekly", start) == datetime(2026, 3, 17, 0, 0, tzinfo=VN)


def test_a_folder_of_lists_replaces_the_packaged_ones_with_inheritance(own_lists: Path) -> None:
    base = {
        "id": "old",
        "valid_from": "2020-01-01",
        "valid_to": "2026-06-30",
        "source": "test",
        "diseases": [
            {
                "key": "dengue",
                "group": "B",
                "icd10": ["A97"],
                "name_vi": "SXH",
                "name_en": "Dengue",
                "deadline": "24h",
            },
            {
                "key": "mumps",
                "group": "B",
                "icd10": ["B26"],
                "name_vi": "Quai bị",
                "name_en": "Mumps",
                "deadline": "weekly",
            },
        ],
    }
    new = {
        "id": "new",
        "valid_from": "2026-07-01",
        "inherits": "old",
        "source": "test",
        "overrides": {"dengue": {"group": "A", "deadline": "48h"}},
        "remove": ["mumps"],
        "add": [
            {
                "key": "scabies",
                "group": "C",
                "icd10": ["B86"],
                "name_vi": "Ghẻ",
                "name_en": "Scabies",
                "deadline": "weekly",
            }
        ],
    }
    (own_lists / "notifiable-old.json").write_text(json.dumps(base), encoding="utf-8")
    (own_lists / "notifiable-new.json").write_text(json.dumps(new), encoding="utf-8")
    (own_lists / "labs.json").write_text(json.dumps({"tests": []}), encoding="utf-8")
    lists.reload()
    june, july = date(2026, 6, 30), date(2026, 7, 1)
    assert [x.id for x in lists.all_lists()] == ["old", "new"]
    before, after = lists.disease_for_code("A97.0", june), lists.disease_for_code("A97.0", july)
    assert before is not None and (before.group, before.deadline) == ("B", "24h")
    assert after is not None and (after.group, after.deadline) == ("A", "48h")
    assert lists.disease_for_code("B26", june) is not None and lists.disease_for_code("B26", july) is None
    assert lists.disease_for_code("B86", june) is None and lists.disease_for_code("B86", july) is not None
    assert lists.lab_tests() == {}


def test_a_bad_deadline_is_refused(own_lists: Path) -> None:
    bad = {
        "id": "x",
        "valid_from": "2020-01-01",
        "diseases": [
            {"key": "k", "group": "B", "icd10": [], "name_vi": "k", "name_en": "k", "deadline": "72h"}
        ],
    }
    (own_lists / "notifiable-x.json").write_text(json.dumps(bad), encoding="utf-8")
    lists.reload()
    with pytest.raises(ValueError, match="72h"):
        lists.all_lists()


def test_the_case_report_form() -> None:
    q = forms.case_report_questionnaire()
    assert q["resourceType"] == "Questionnaire" and q["url"] == forms.QUESTIONNAIRE_URL
    ids = [i["linkId"] for i in q["item"]]
    for needed in ("disease", "group", "icd10", "onset", "classification", "outcome", "deadline", "reported"):
        assert needed in ids
    classification = next(i for i in q["item"] if i["linkId"] == "classification")
    assert [o["valueCoding"]["code"] for o in classification["answerOption"]] == [
        "suspected",
        "probable",
        "confirmed",
    ]
    dengue = next(i for i in q["item"] if i["linkId"] == "dengue")
    assert dengue["enableWhen"][0]["answerCoding"]["code"] == "dengue"


def test_evidence_from_each_kind_of_resource() -> None:
    when = at("2026-03-10")
    cond = {**condition("p1", "A97.1", when, onset="2026-03-08"), "id": "c1"}
    provisional = {**condition("p1", "B05", when, verification="provisional"), "id": "c2"}
    refuted = {**condition("p1", "B05", when, verification="refuted"), "id": "c3"}
    enc = {**encounter("p1", "B08.4", when, died=True), "id": "e1"}
    pos = {**lab("p1", DENGUE_NS1, when), "id": "o1"}
    neg = {**lab("p1", DENGUE_NS1, when, positive=False), "id": "o2"}
    (c,) = evidence_of(cond)
    assert (c.disease, c.classification, c.onset, c.patient) == ("dengue", "probable", date(2026, 3, 8), "p1")
    assert evidence_of(provisional)[0].classification == "suspected"
    assert evidence_of(refuted) == []
    (e,) = evidence_of(enc)
    assert (e.disease, e.kind, e.classification, e.outcome) == ("hfmd", "encounter", "suspected", "died")
    (o,) = evidence_of(pos)
    assert (o.disease, o.classification) == ("dengue", "confirmed")
    assert evidence_of(neg) == []


def test_episodes_split_after_the_disease_gap_and_take_the_strongest_evidence() -> None:
    first = {**condition("p1", "A97.0", at("2026-03-10"), onset="2026-03-08"), "id": "c1"}
    confirm = {**lab("p1", DENGUE_NS1, at("2026-03-12")), "id": "o1"}
    much_later = {**condition("p1", "A97.2", at("2026-08-20")), "id": "c2"}  # > 60 days: a new episode
    found = episodes([e for r in (first, confirm, much_later) for e in evidence_of(r)])
    assert len(found) == 2
    a, b = found
    assert (a.classification, a.case_date, a.notifiable_list.id, a.icd10) == (
        "confirmed",
        date(2026, 3, 8),
        "tt54-2015",
        "A97.0",
    )
    assert a.deadline_at == at("2026-03-11")  # 24 h after the first evidence
    assert (b.classification, b.notifiable_list.id, b.icd10) == ("probable", "vn-2026", "A97.2")
