"""One claim table as XML: write records in the table's layout, read them back, parse safely.

Spec: the layouts of :data:`senhealth.emr.claims.field_rules.LAYOUTS` (``<CHITIEU_CHITIET_THUOC>`` >
``<DSACH_CHI_TIET_THUOC>`` > ``<CHI_TIET_THUOC>``; ``<TONG_HOP>`` alone for XML1 ...), each field an
element named as in the table, in the table's order, its value the element's text (UTF-8). Lists in one
field are ``;``-separated text, as the tables say. XML: https://www.w3.org/TR/xml/ .

Parsing never resolves entities, never loads a DTD or anything from the network, and refuses a document
type declaration: claim files come from outside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from senhealth.emr.claims.tables import TableSpec, table

__all__ = ["XmlError", "local_name", "parse_xml", "read_records", "record_values", "write_table"]

Record = dict[str, str]


class XmlError(ValueError):
    """A document that is not well-formed XML, or that declares a document type."""


_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    remove_comments=True,
    remove_pis=True,
    huge_tree=False,
)


def parse_xml(data: bytes) -> Any:
    """The root element of ``data``; :class:`XmlError` when it is not well-formed or has a DOCTYPE."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise XmlError("a document type declaration (DOCTYPE) is not allowed")
    return root


def local_name(element: Any) -> str:
    """The element's name without a namespace."""
    tag = element.tag
    return str(etree.QName(tag).localname) if isinstance(tag, str) else ""


def write_table(name: str, records: Sequence[Mapping[str, str | None]]) -> bytes:
    """The XML of table ``name`` holding ``records`` (field name -> text), every field in order.

    Fields a record does not have are written empty, as the portal's templates do; fields that are not
    in the table raise ``KeyError`` (a programming error: exports build records from the table).
    """
    spec = table(name)
    layout = spec.layout
    for record in records:
        unknown = [k for k in record if spec.field(k) is None]
        if unknown:
            raise KeyError(f"{name} has no field {unknown[0]}")
    root = etree.Element(layout.root)
    if layout.single:
        if len(records) != 1:
            raise ValueError(f"{name} holds exactly one record, not {len(records)}")
        _fill(root, spec, records[0])
    else:
        parent = etree.SubElement(root, layout.list) if layout.list else root
        for record in records:
            _fill(etree.SubElement(parent, layout.record), spec, record)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return out


def _fill(element: Any, spec: TableSpec, record: Mapping[str, str | None]) -> None:
    values = {spec.aliases.get(k, k): v for k, v in record.items()}
    for f in spec.fields:
        child = etree.SubElement(element, f.name)
        value = values.get(f.name)
        if value:
            child.text = value


def read_records(spec: TableSpec, root: Any) -> list[Any]:
    """The record elements of a parsed table (its root, for a one-record table); no checks."""
    layout = spec.layout
    if layout.single:
        return [root]
    holder = next((c for c in root if local_name(c) == layout.list), None)
    if holder is None:
        return []
    return [c for c in holder if local_name(c) == layout.record]


def record_values(spec: TableSpec, record: Any) -> Record:
    """Field name (current names; former ones mapped) -> stripped text, for the fields that have text."""
    out: Record = {}
    for child in record:
        name = local_name(child)
        if not name:
            continue
        text = (child.text or "").strip()
        if text:
            out[spec.aliases.get(name, name)] = text
    return out
