"""The 54 ethnic groups of Viet Nam with the General Statistics Office's codes, as a code system.

Spec: https://hl7.org/fhir/R4/codesystem.html. The list: "Danh mục các thành phần dân tộc Việt Nam",
Decision 121-TCTK/PPCĐ of 2 March 1979 of the General Statistics Office (codes ``01`` Kinh … ``54``
Rơ-măm), the list the Ministry of Health's claim XML asks for in ``MA_DANTOC`` (Decisions 4750/QĐ-BYT
and 3176/QĐ-BYT) and the order of the census tables. Decision 1019/QĐ-TCTK (2008) numbers the groups
differently (``04`` Mường): that is another list and is not loaded.

Kept in ``data/ethnic-groups.json`` (source noted in ``data/README.md``): Vietnamese names as displays,
English names as ``en`` designations.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from senhealth.fhir.terminology.codesystem import CodeSystem, Concept

__all__ = ["SYSTEM", "VALUE_SET", "code_system"]

SYSTEM = "https://senhealth.vn/fhir/CodeSystem/ethnic-group"
VALUE_SET = "https://senhealth.vn/fhir/ValueSet/ethnic-group"


@cache
def code_system() -> CodeSystem:
    """The 54 ethnic groups (codes ``01`` … ``54``)."""
    raw = json.loads(resources.files(__package__).joinpath("data", "ethnic-groups.json").read_text("utf-8"))
    concepts = {code: Concept(code, vi, designations={"vi": vi, "en": en}) for code, vi, en in raw["groups"]}
    return CodeSystem(
        url=SYSTEM,
        version="121-TCTK/PPCĐ-1979",
        name="VietnamEthnicGroups",
        title="Danh mục các dân tộc Việt Nam / Ethnic groups of Viet Nam",
        language="vi",
        case_sensitive=True,
        hierarchy_meaning=None,
        publisher="Tổng cục Thống kê / General Statistics Office of Viet Nam",
        description=raw["source"],
        copyright="A Vietnamese legal text: public (Law on Intellectual Property, Art. 15)",
        resource_id="ethnic-group",
        value_set=VALUE_SET,
        concepts=concepts,
    )
