"""senhealth.core.text.normalize: lower case, Vietnamese diacritics folded, whitespace collapsed."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from senhealth.core.text import fold_diacritics, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nguyễn Thị Đào", "nguyen thi dao"),
        ("ĐỖ THỊ NGỌC ÁNH", "do thi ngoc anh"),
        ("  Trần   Văn\tÂn \n", "tran van an"),
        ("Lê Hoàng Phúc", "le hoang phuc"),
        ("Phạm Quỳnh Hương", "pham quynh huong"),
        ("Võ Thị Sáu", "vo thi sau"),
        ("Thành phố Hồ Chí Minh", "thanh pho ho chi minh"),
        ("Tỉnh Đắk Lắk", "tinh dak lak"),
        ("Phường Bến Nghé, Quận 1", "phuong ben nghe, quan 1"),
        ("Thừa Thiên Huế", "thua thien hue"),
        ("Bà Rịa – Vũng Tàu", "ba ria – vung tau"),
        ("Nguye\u0302\u0303n", "nguyen"),  # already decomposed (NFD) input
        ("Müller", "muller"),
        ("François", "francois"),
        ("Straße", "strasse"),
        ("non\u00a0breaking", "non breaking"),
        ("", ""),
        ("   ", ""),
        ("ASCII only", "ascii only"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


VOWELS = "aăâeêioôơuưy"
TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")  # ngang, huyền, sắc, ngã, hỏi, nặng


@pytest.mark.parametrize("vowel", list(VOWELS))
def test_every_vietnamese_vowel_and_tone_folds_to_its_base_letter(vowel: str) -> None:
    base = unicodedata.normalize("NFD", vowel)[0]
    for tone in TONES:
        composed = unicodedata.normalize("NFC", vowel + tone)
        assert normalize(composed) == base
        assert normalize(composed.upper()) == base
        assert normalize(unicodedata.normalize("NFD", composed)) == base


def test_d_with_stroke_is_a_letter_not_a_mark() -> None:
    assert normalize("đ") == normalize("Đ") == "d"
    assert unicodedata.normalize("NFD", "đ") == "đ"  # why it needs its own table entry


def test_fold_diacritics_keeps_case_and_spacing() -> None:
    assert fold_diacritics("Nguyễn  Thị ĐÀO") == "Nguyen  Thi DAO"


@given(
    st.text(
        alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ \t"
    )
)
def test_vietnamese_text_normalises_to_lower_ascii_idempotently(text: str) -> None:
    out = normalize(text)
    assert out.isascii()
    assert out == out.lower() == out.strip()
    assert "  " not in out
    assert normalize(out) == out
