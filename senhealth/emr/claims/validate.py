"""Field-by-field validation of a claim table: presence, type, size, date format, codes, ICD-10.

Spec: the field tables of Decision 130/QĐ-BYT as amended by 4750/QĐ-BYT and 3176/QĐ-BYT
(:mod:`senhealth.emr.claims.tables`; what is checked and why: :mod:`senhealth.emr.claims.field_rules`).
No XSD is published, so the checks are the tables' own words:

- ``Số`` (number): digits, an optional ``.`` and decimals (no sign, no thousands separator); the
  maximum size counts the digits; decimals at most as many as the explanation rounds to;
- ``Chuỗi`` (string): at most the maximum size, in characters;
- dates ``yyyymmddHHMM`` / ``yyyymmdd``, real calendar dates (``NGAY_SINH`` may write 00 for an unknown
  day or month);
- closed code lists, patterns (facility codes, insurance cards), ICD-10 codes of the Ministry's list
  (:func:`senhealth.fhir.terminology.icd10_vn.lookup`; with or without the dot), ``;``-separated lists;
- required fields; a field the table does not have, or one given twice, is an error too.

Each :class:`FieldError` names the table, the record (1-based, in the file's order) and the field, with
the reason in Vietnamese and English; :attr:`FieldError.expression` is ``XML2[3].SO_LUONG``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from senhealth.emr.claims.tables import FieldSpec, TableSpec, table
from senhealth.emr.claims.xml_tables import XmlError, local_name, parse_xml, read_records
from senhealth.fhir.terminology import icd10_vn

__all__ = ["FieldError", "check_value", "validate_record", "validate_table"]

_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One fault: where (table, record, field), what (a code) and why (Vietnamese, English)."""

    table: str
    record: int | None  # 1-based position of the record in the table; None: the table as a whole
    field: str | None
    code: str  # required | type | length | format | code | icd10 | pattern | unknown | duplicate | structure
    message_vi: str
    message_en: str
    value: str | None = None

    @property
    def expression(self) -> str:
        """``XML2[3].SO_LUONG``, ``XML1[1].MA_BENH_CHINH``, ``XML4`` (the table as a whole)."""
        where = self.table if self.record is None else f"{self.table}[{self.record}]"
        return f"{where}.{self.field}" if self.field else where

    @property
    def message(self) -> str:
        """Vietnamese first, English second."""
        return f"{self.expression}: {self.message_vi} / {self.message_en}"


def _valid_datetime(text: str, fmt: str) -> bool:
    if not text.isdigit():
        return False
    if fmt == "date":
        return len(text) == 8 and _real(text[:8])
    if fmt == "datetime":
        return len(text) == 12 and _real(text[:8]) and _clock(text[8:])
    if fmt == "date-or-datetime":
        return (len(text) == 8 and _real(text)) or (len(text) == 12 and _real(text[:8]) and _clock(text[8:]))
    if fmt == "birth":  # yyyymmddHHMM, unknown day or month written 00
        if len(text) != 12 or not _clock(text[8:]):
            return False
        year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
        if not 1850 <= year <= 2200:
            return False
        if month == 0:
            return day == 0
        return (day == 0 and 1 <= month <= 12) or _real(text[:8])
    return True


def _real(ymd: str) -> bool:
    try:
        day = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:8]))
    except ValueError:
        return False
    return 1850 <= day.year <= 2200


def _clock(hhmm: str) -> bool:
    return int(hhmm[:2]) < 24 and int(hhmm[2:]) < 60


_FORMAT_TEXT = {
    "date": ("yyyymmdd (8 chữ số, ngày có thật)", "yyyymmdd (8 digits, a real date)"),
    "datetime": ("yyyymmddHHMM (12 chữ số, thời điểm có thật)", "yyyymmddHHMM (12 digits, a real time)"),
    "date-or-datetime": ("yyyymmdd hoặc yyyymmddHHMM", "yyyymmdd or yyyymmddHHMM"),
    "birth": (
        "yyyymmddHHMM (12 chữ số; ngày, tháng chưa rõ ghi 00)",
        "yyyymmddHHMM (12 digits; unknown day or month written 00)",
    ),
}


def check_value(spec: FieldSpec, value: str) -> list[tuple[str, str, str]]:
    """What is wrong with ``value`` (non-empty, stripped) for field ``spec``: ``(code, vi, en)`` each."""
    out: list[tuple[str, str, str]] = []
    if spec.kind == "number":
        if not _NUMBER.fullmatch(value):
            return [
                ("type", f"phải là số (giá trị {value[:40]!r})", f"must be a number (got {value[:40]!r})")
            ]
        digits = sum(c.isdigit() for c in value)
        if spec.max_size is not None and digits > spec.max_size:
            out.append(("length", f"quá {spec.max_size} chữ số", f"more than {spec.max_size} digits"))
        if spec.decimals is not None and "." in value and len(value.split(".", 1)[1]) > spec.decimals:
            out.append(
                (
                    "type",
                    f"tối đa {spec.decimals} chữ số thập phân",
                    f"at most {spec.decimals} decimal places",
                )
            )
    elif spec.max_size is not None and len(value) > spec.max_size:
        out.append(
            (
                "length",
                f"dài {len(value)} ký tự, tối đa {spec.max_size}",
                f"{len(value)} characters long, at most {spec.max_size}",
            )
        )
    items = [v.strip() for v in value.split(";")] if spec.is_list else [value]
    if spec.is_list and any(not v for v in items):
        out.append(("format", "có giá trị rỗng giữa các dấu ';'", "has an empty value between ';'"))
        items = [v for v in items if v]
    if spec.max_items is not None and len(items) > spec.max_items:
        out.append(("length", f"quá {spec.max_items} giá trị", f"more than {spec.max_items} values"))
    if spec.date_format:
        vi, en = _FORMAT_TEXT[spec.date_format]
        for item in items:
            if not _valid_datetime(item, spec.date_format):
                out.append(
                    ("format", f"{item[:20]!r} không đúng định dạng {vi}", f"{item[:20]!r} is not {en}")
                )
    if spec.codes is not None:
        for item in items:
            if item not in spec.codes:
                allowed = ", ".join(spec.codes)
                out.append(
                    (
                        "code",
                        f"mã {item[:20]!r} không có trong danh mục ({allowed})",
                        f"code {item[:20]!r} is not one of {allowed}",
                    )
                )
    if spec.pattern is not None:
        for item in items:
            if not spec.pattern.fullmatch(item):
                out.append(
                    (
                        "pattern",
                        f"{item[:20]!r} không phải {spec.pattern_vi}",
                        f"{item[:20]!r} is not {spec.pattern_en}",
                    )
                )
    if spec.icd10:
        for item in items:
            if icd10_vn.lookup(item) is None:
                out.append(
                    (
                        "icd10",
                        f"mã {item[:12]!r} không có trong danh mục ICD-10 của Bộ Y tế ({icd10_vn.EDITION})",
                        f"code {item[:12]!r} is not in the Ministry's ICD-10 list ({icd10_vn.EDITION})",
                    )
                )
    if any(code in ("format", "pattern") for code, _, _ in out):  # the format says it all: one fault
        out = [o for o in out if o[0] != "length"]
    return out


def validate_record(spec: TableSpec, index: int, record: Any) -> list[FieldError]:
    """The faults of one record element (``index`` 1-based)."""
    errors: list[FieldError] = []
    seen: dict[str, str] = {}
    for child in record:
        raw_name = local_name(child)
        if not raw_name:
            continue
        name = spec.aliases.get(raw_name, raw_name)
        if spec.by_name.get(name) is None:
            errors.append(
                FieldError(
                    spec.name,
                    index,
                    raw_name,
                    "unknown",
                    f"trường không có trong bảng {spec.name}",
                    f"not a field of table {spec.name}",
                )
            )
            continue
        if len(child):
            errors.append(
                FieldError(
                    spec.name, index, name, "structure", "không được chứa thẻ con", "must not hold elements"
                )
            )
            continue
        if name in seen:
            errors.append(FieldError(spec.name, index, name, "duplicate", "ghi hai lần", "given twice"))
            continue
        seen[name] = (child.text or "").strip()
    for f in spec.fields:
        value = seen.get(f.name, "")
        if not value:
            if f.required:
                errors.append(
                    FieldError(
                        spec.name, index, f.name, "required", "bắt buộc, đang để trống", "is required, empty"
                    )
                )
            continue
        for code, vi, en in check_value(f, value):
            errors.append(FieldError(spec.name, index, f.name, code, vi, en, value[:200]))
    for group in spec.one_of:
        if not any(seen.get(n) for n in group):
            names = " / ".join(sorted(group))
            errors.append(
                FieldError(
                    spec.name,
                    index,
                    sorted(group)[0],
                    "required",
                    f"phải có ít nhất một trong {names}",
                    f"needs at least one of {names}",
                )
            )
    return errors


def validate_table(name: str, element: Any) -> list[FieldError]:
    """Every fault of table ``name`` given as a parsed element (its root) or as XML bytes.

    An empty list means the table is valid. Structural faults (wrong root, no list element, no record)
    are reported on the table as a whole (``record`` None).
    """
    spec = table(name)
    if isinstance(element, bytes | bytearray):
        try:
            element = parse_xml(bytes(element))
        except XmlError as exc:
            return [FieldError(spec.name, None, None, "structure", f"không phải XML hợp lệ: {exc}", str(exc))]
    layout = spec.layout
    root_name = local_name(element)
    if root_name != layout.root:
        return [
            FieldError(
                spec.name,
                None,
                None,
                "structure",
                f"thẻ gốc phải là <{layout.root}>, không phải <{root_name}>",
                f"the root element must be <{layout.root}>, not <{root_name}>",
            )
        ]
    errors: list[FieldError] = []
    if not layout.single:
        extra = [local_name(c) for c in element if local_name(c) and local_name(c) != layout.list]
        if extra:
            errors.append(
                FieldError(
                    spec.name,
                    None,
                    extra[0],
                    "unknown",
                    f"thẻ <{extra[0]}> không thuộc bảng",
                    f"<{extra[0]}> is not part of the table",
                )
            )
        holder = next((c for c in element if local_name(c) == layout.list), None)
        if holder is None:
            return [
                *errors,
                FieldError(
                    spec.name,
                    None,
                    None,
                    "structure",
                    f"thiếu thẻ <{layout.list}>",
                    f"the <{layout.list}> element is missing",
                ),
            ]
        others = [local_name(c) for c in holder if local_name(c) and local_name(c) != layout.record]
        if others:
            errors.append(
                FieldError(
                    spec.name,
                    None,
                    others[0],
                    "unknown",
                    f"thẻ <{others[0]}> không phải <{layout.record}>",
                    f"<{others[0]}> is not a <{layout.record}>",
                )
            )
    records = read_records(spec, element)
    if not records:
        errors.append(
            FieldError(
                spec.name, None, None, "structure", "bảng không có bản ghi nào", "the table holds no record"
            )
        )
    for i, record in enumerate(records, 1):
        errors.extend(validate_record(spec, i, record))
    return errors


def parse_claim_date(text: str) -> datetime | date | None:
    """A claim date (``yyyymmdd`` → date, ``yyyymmddHHMM`` → naive datetime); None when not one."""
    try:
        if len(text) == 8:
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        if len(text) == 12:
            return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]))
    except ValueError:
        return None
    return None
