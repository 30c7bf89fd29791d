"""The Ministry's periodic reports generated from the data (issue 11, build item 2): form 14/BCT.

- :mod:`.bct14`: monthly morbidity and mortality by ICD-10 chapter (:func:`report_14bct`);
- :mod:`.render`: its CSV, XLSX and PDF.

docs/reports-14bct.md.
"""

from __future__ import annotations

from .bct14 import COLUMNS, FORM, VERSION, Report14BCT, report_14bct
from .render import FORMATS, MEDIA_TYPES, render

__all__ = ["COLUMNS", "FORM", "FORMATS", "MEDIA_TYPES", "VERSION", "Report14BCT", "render", "report_14bct"]
