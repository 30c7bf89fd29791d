"""The line list: ``GET /app/surveillance/line-list`` (issue 8 build item 5; docs/web-surveillance.md).

``?disease=dengue&province=NN&commune=NNNNN&start=YYYY-MM-DD&end=YYYY-MM-DD&classification=confirmed
[&format=csv][&lang=en]``: one row per case (:func:`senhealth.surveillance.cases.line_list`), the
event-based signals of the same place and period beside it (:func:`~senhealth.surveillance.cases.
line_list_with_signals`), and the same lines as CSV (UTF-8 with a byte-order mark; every field of a line, in
:data:`CSV_FIELDS` order, lists joined by spaces, booleans ``true``/``false``).

A line names a patient (its id): only CDC officers open it, and every opening is audited like a FHIR search
(``AccessEvent`` ``search`` of ``QuestionnaireResponse``, ``query`` = ``surveillance-line-list?…``, the patients
listed), in the same transaction that read the lines.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Final
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.core.geo import province_codes, province_map, province_of_commune
from senhealth.fhir.access import AccessEvent, audit_sink
from senhealth.security.oauth.bearer import principal_from_claims
from senhealth.surveillance.cases import line_list_with_signals
from senhealth.web.context import client_ip, render, session_token, state
from senhealth.web.views.surveillance_common import CSS, LINE_LIST_ROLES, refusal, surveillance_user
from senhealth.web.views.surveillance_data import disease_by_key, diseases

__all__ = ["CLASSIFICATIONS", "CSV_FIELDS", "ROUTES", "csv_row", "line_list_page"]

CLASSIFICATIONS: Final = ("suspected", "probable", "confirmed")
CSV_FIELDS: Final = (
    "caseId", "disease", "diseaseName", "group", "list", "icd10", "patient", "patients", "province", "commune",
    "onset", "caseDate", "isoWeek", "diagnosed", "detected", "deadline", "deadlineAt", "reported", "late",
    "overdue", "classification", "outcome", "status", "evidence",
)  # fmt: skip


def csv_row(line: dict[str, Any]) -> list[str]:
    """A line as CSV fields (:data:`CSV_FIELDS`)."""
    out = []
    for name in CSV_FIELDS:
        value = line.get(name)
        if isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, list | tuple):
            out.append(" ".join(str(v) for v in value))
        else:
            out.append("" if value is None else str(value))
    return out


def _date(value: str | None, tx: dict[str, str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise refusal(400, tx, "bad_date") from None


def _commune_name(code: str) -> str:
    province = province_of_commune(code)
    if province is None:
        return code
    shape = province_map(province).commune(code)
    return shape.name if shape else code


async def line_list_page(request: Request) -> Response:
    found, lang, tx = await surveillance_user(request, LINE_LIST_ROLES, "forbidden_line_list")
    params = request.query_params
    disease = params.get("disease") or None
    if disease is not None and disease_by_key(disease) is None:
        raise refusal(400, tx, "bad_disease")
    province = params.get("province") or None
    if province is not None and province not in province_codes():
        raise refusal(400, tx, "bad_province")
    commune = (params.get("commune") or "").strip() or None
    start, end = _date(params.get("start"), tx), _date(params.get("end"), tx)
    classification = params.get("classification") or None
    if classification is not None and classification not in CLASSIFICATIONS:
        classification = None
    token = await session_token(request, found)
    principal = principal_from_claims(state(request).tokens.verify(token))
    query = {
        k: v
        for k, v in params.items()
        if k in ("disease", "province", "commune", "start", "end", "classification") and v
    }
    async with transaction() as conn:
        found_lines = await line_list_with_signals(
            conn, disease, commune=commune, province=province, start=start, end=end,
            classification=classification, lang=lang,
        )  # fmt: skip
        lines = found_lines["cases"]
        await audit_sink().record(
            conn,
            AccessEvent(
                when=dt.datetime.now(dt.UTC),
                principal=principal,
                action="search",
                res_type="QuestionnaireResponse",
                query="surveillance-line-list?" + urlencode(query),
                patients=sorted({p for line in lines for p in line.get("patients") or [line["patient"]]}),
                source_ip=client_ip(request),
                details={"lines": len(lines), "format": params.get("format") or "html"},
            ),
        )
    if params.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_FIELDS)
        for line in lines:
            writer.writerow(csv_row(line))
        name = f"line-list-{disease or 'all'}.csv"
        return Response(
            "\ufeff" + out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    context = {
        "css": CSS,
        "L": tx,
        "lines": lines,
        "signals": found_lines["signals"],
        "commune_name": _commune_name,
        "diseases": diseases(),
        "classifications": CLASSIFICATIONS,
        "f": {
            "disease": disease or "",
            "province": province or "",
            "commune": commune or "",
            "start": start.isoformat() if start else "",
            "end": end.isoformat() if end else "",
            "classification": classification or "",
        },
        "provinces": [(c, province_map(c).name) for c in province_codes()],
        "csv_url": "/app/surveillance/line-list?" + urlencode({**query, "format": "csv"}),
    }
    return render(request, "surveillance/line_list.html", context)


ROUTES: Final = [Route("/app/surveillance/line-list", line_list_page, methods=["GET"])]
