"""Vietnamese names: diacritics, family–middle–given order, realistic frequencies."""

from __future__ import annotations

import unicodedata
from collections import Counter

from province_summary import ProvinceSummary

from senhealth.demo.names import name_tables, sample_name
from senhealth.demo.streams import stream


def test_names_are_written_family_middle_given(province: ProvinceSummary) -> None:
    for patient in province.patients:
        (name,) = patient["name"]
        assert name["use"] == "official"
        assert name["text"] == " ".join([name["family"], *name["given"]])
        assert 2 <= len(name["given"]) <= 3
        assert unicodedata.is_normalized("NFC", name["text"])


def test_family_name_frequencies(province: ProvinceSummary) -> None:
    families = Counter(p["name"][0]["family"] for p in province.patients)
    n = len(province.patients)
    assert 0.33 < families["Nguyễn"] / n < 0.43
    assert families.most_common(3)[0][0] == "Nguyễn"
    assert {"Trần", "Lê"} <= {f for f, _ in families.most_common(4)}
    assert families["Hoàng"] > families["Huỳnh"], "Bắc Ninh is in the north"
    assert families["Vũ"] > families["Võ"]


def test_middle_names_by_sex_and_cohort() -> None:
    rng = stream(1, "names-test")
    older_women = Counter(sample_name(rng, "female", 1960).middle[0] for _ in range(2000))
    younger_women = Counter(sample_name(rng, "female", 2010).middle[0] for _ in range(2000))
    men = Counter(sample_name(rng, "male", 1970).middle[0] for _ in range(2000))
    assert older_women.most_common(1)[0][0] == "Thị" and older_women["Thị"] > 1500
    assert younger_women["Thị"] < older_women["Thị"] / 2
    assert men.most_common(1)[0][0] == "Văn" and "Thị" not in men


def test_southern_variants() -> None:
    rng = stream(1, "south")
    families = Counter(sample_name(rng, "male", 1980, "south").family for _ in range(5000))
    assert families["Huỳnh"] > families["Hoàng"] and families["Võ"] > families["Vũ"]


def test_name_data_is_nfc() -> None:
    tables = name_tables()
    words = [*tables.hamlets, *tables.streets]
    for weighted in [*tables.family.values(), *tables.middle.values(), *tables.given.values()]:
        words += list(weighted.values)
    assert all(unicodedata.is_normalized("NFC", w) for w in words)
