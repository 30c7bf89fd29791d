"""txt-1 (Narrative.div: no active content) searches the reversed text for event attributes and
``javascript:`` URLs; it must answer what the forward definition answers, on any text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from senhealth.fhir.validation import invariant_rules

_PIECES = st.sampled_from(
    [
        "<div",
        "<p",
        ">",
        "</div>",
        " ",
        "\t",
        "\n",
        "on",
        "ON",
        "click",
        "Load",
        "=",
        " = ",
        '"x"',
        "javascript",
        "JavaScript",
        ":",
        "a",
        "<script",
        "<SCRIPT ",
        "<style",
        "b",
        "ſ",
        "K",
        "é",
        "x",
    ]
)
_TEXTS = st.lists(_PIECES, max_size=20).map("".join) | st.text(max_size=40)


def _definition(text: str) -> bool:
    return (
        invariant_rules._FORBIDDEN_TAG.search(text) is None
        and invariant_rules._EVENT_ATTR.search(text) is None
    )


@given(_TEXTS)
def test_txt_1_agrees_with_its_definition(text: str) -> None:
    assert invariant_rules.txt_1(text, None) == _definition(text), text


def test_txt_1_cases() -> None:
    ok = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Huyết áp 120/80 <a href="https://x.vn">x</a></p></div>'
    assert invariant_rules.txt_1(ok, None)
    for bad in (
        '<div><p onclick="x()">a</p></div>',
        '<div><a href="JAVASCRIPT:alert(1)">a</a></div>',
        "<div><script>x</script></div>",
        '<div><img\nONload = "x"/></div>',
    ):
        assert not invariant_rules.txt_1(bad, None), bad
