"""Vietnamese name normalisation and comparison keys (senhealth.mpi.names)."""

from __future__ import annotations

import unicodedata

import pytest

from senhealth.mpi.names import fold_key, name_keys, split_name, tone_key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Thuỷ", "Thủy"),
        ("Hoà", "Hòa"),
        ("Khoẻ", "Khỏe"),
        ("Nguyễn Thị Thuỷ", "nguyễn  thị thủy"),
        (unicodedata.normalize("NFD", "Nguyễn Văn Đức"), "Nguyễn Văn Đức"),
    ],
)
def test_tone_key_ignores_tone_placement(a: str, b: str) -> None:
    assert tone_key(a) == tone_key(b)


def test_tone_key_keeps_tones_and_vowel_marks() -> None:
    assert tone_key("Thủy") == "thuyr"
    assert tone_key("Thùy") != tone_key("Thủy")
    assert tone_key("Hương") == "hương"
    assert tone_key("Hường") != tone_key("Hương")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Nguyễn Văn Đức", "Nguyen Van Duc", True),
        ("ĐẶNG THỊ LAN", "dang thi lan", True),
        ("Lý", "Lí", True),
        ("Sỹ", "Sĩ", True),
        ("Quý", "Quí", True),
        ("Vy", "Vi", True),
        ("Kỳ", "Kì", True),
        ("Huy", "Hui", False),
        ("Thúy", "Thúi", False),
        ("Tuyết", "Tuiết", False),
        ("Hoàng", "Huỳnh", False),
        ("Vũ", "Võ", False),
    ],
)
def test_fold_key(a: str, b: str, same: bool) -> None:
    assert (fold_key(a) == fold_key(b)) is same


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"family": "Nguyễn", "given": ["Văn", "An"]}, ("Nguyễn", ("Văn",), "An")),
        ({"family": "Nguyễn", "given": ["Nguyễn", "Văn", "An"]}, ("Nguyễn", ("Văn",), "An")),
        ({"family": "Trần", "given": ["Thị Thu Hà"]}, ("Trần", ("Thị", "Thu"), "Hà")),
        ({"given": ["Lê", "Lan"]}, ("Lê", (), "Lan")),
        ({"family": "Phạm"}, ("Phạm", (), "")),
        ({"text": "Nguyễn Văn An"}, ("Nguyễn", ("Văn",), "An")),
        ({"text": "An Nguyen"}, ("Nguyen", (), "An")),
        ({"text": "Van An Nguyen"}, ("Nguyen", ("Van",), "An")),
        ({"text": "Lê Minh"}, ("Lê", (), "Minh")),
        ({"text": "  "}, ("", (), "")),
    ],
)
def test_split_name(kwargs: dict[str, object], expected: tuple[str, tuple[str, ...], str]) -> None:
    assert split_name(**kwargs) == expected  # type: ignore[arg-type]


def test_name_keys_from_human_name_and_text() -> None:
    human = name_keys({"family": "Nguyễn", "given": ["Thị", "Thuỷ"], "text": "Nguyễn Thị Thuỷ"})
    text = name_keys("NGUYEN THI THUY")
    assert (human.family, human.middle, human.given, human.full) == (
        "nguyen",
        "thi",
        "thuy",
        "nguyen thi thuy",
    )
    assert human.full == text.full
    assert human.full_tone == name_keys("Nguyễn Thị Thủy").full_tone
