"""Deterministic and probabilistic matching of a handful of records (senhealth.mpi.match)."""

from __future__ import annotations

from datetime import date

from senhealth.mpi.match import ScoredPair, clusters, deduplicate
from senhealth.mpi.record import Candidate, candidate_from_patient, match_row


def _people() -> list[Candidate]:
    return [
        Candidate(
            "a", "Nguyễn", ("Thị", "Thuỷ"), date(1990, 3, 4), "female", "07210", "0912000111", "027190000001"
        ),
        Candidate("b", "Nguyen", ("Thi", "Thuy"), date(1990, 4, 3), "female", "07210", "0912000111", None),
        Candidate("c", "Trần", ("Văn", "Hùng"), date(1975, 6, 20), "male", "07213", None, "027075000002"),
        # Same personal ID as c, but a woman born in 1980: a re-issued or mistyped number → review.
        Candidate("d", "Trần", ("Thị", "Hoa"), date(1980, 1, 2), "female", "07213", None, "027075000002"),
        Candidate("e", "Lê", ("Minh",), date(2001, 9, 9), "male", "07220", "0987000222", "027201000003"),
    ]


def test_links_and_review() -> None:
    result = deduplicate(_people())
    assert [(p.left, p.right) for p in result.links] == [("a", "b")]
    assert "birth day and month swapped" in result.links[0].reasons
    (review,) = result.review
    assert (review.left, review.right) == ("c", "d")
    assert any("personal ID says male" in r for r in review.reasons)


def test_clusters() -> None:
    links = [ScoredPair("a", "b", 1.0, ()), ScoredPair("b", "c", 1.0, ()), ScoredPair("x", "y", 1.0, ())]
    assert clusters(links) == [{"a", "b", "c"}, {"x", "y"}]


def test_candidate_from_patient() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"system": "https://senhealth.vn/fhir/sid/cccd", "value": "001190012345"},
            {"system": "https://senhealth.vn/fhir/sid/bhyt", "value": "GD4010123456789"},
        ],
        "name": [{"use": "official", "text": "Nguyễn Thị Đào", "family": "Nguyễn", "given": ["Thị", "Đào"]}],
        "telecom": [{"system": "phone", "value": "+84 912 000 111", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1990-03-15",
        "address": [
            {
                "use": "home",
                "extension": [
                    {
                        "url": "https://senhealth.vn/fhir/StructureDefinition/administrative-unit",
                        "extension": [{"url": "commune", "valueCoding": {"code": "07210"}}],
                    }
                ],
            }
        ],
    }
    c = candidate_from_patient(patient)
    assert (c.id, c.family, c.given, c.birth_date, c.sex, c.commune) == (
        "p1",
        "Nguyễn",
        ("Thị", "Đào"),
        date(1990, 3, 15),
        "female",
        "07210",
    )
    row = match_row(c)
    assert row["full_name"] == "nguyen thi dao"
    assert row["phone"] == "0912000111"
    assert row["sin"] == "0123456789"
    assert row["birth_date_set"] == "1990-03-15"
