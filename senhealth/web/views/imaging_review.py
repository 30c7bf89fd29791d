"""The radiologist's pages: the reading worklist, the study in the viewer beside the AI's result, the review
and the signature of the final report (issue 10, items 3 and 5; docs/web-imaging.md).

- ``GET /app/imaging/worklist``: the facility's AI review Tasks still open (``Task?code=review-ai-result
  &status=requested&owner=<facility>``), urgent first (the model's likely-abnormal studies), then the oldest;
  each with the patient, the study, the AI's call and probability.
- ``GET /app/imaging/reports/{report_id}``: the study in the viewer (``imaging-viewer.js``: frames, window
  and level, zoom and pan, the AI's overlay from its DICOM Segmentation), the AI's preliminary result, and
  the review form: accept, edit (the radiologist's call and words) or reject, signed with the user's own
  certificate (its status checked now, as on the document signing page); the facility's certificate may
  add its signature after hers. A final report is shown read-only, with its signature status.
- ``POST /app/imaging/reports/{report_id}/review``: ``DiagnosticReport/{id}/$ai-review`` as the user; a
  refusal is shown with the server's reason in the page's language.

Everything goes through the platform's APIs as the signed-in user (FHIR, and DICOMweb for the viewer's
list of instances and their value ranges: :mod:`.imaging_wado`), so the access policy and the audit
apply. The pages' texts are kept here in both languages (:data:`TEXT`), as the dashboards do, so that the
pages land without a change to the shared message catalogue.

Spec: https://hl7.org/fhir/R4/task.html, https://hl7.org/fhir/R4/diagnosticreport.html, DICOM PS3.18
(QIDO-RS and WADO-RS metadata).
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.web.context import (
    PageError,
    Redirect,
    csrf_protected,
    fhir,
    lang_of,
    render,
    require_staff,
    state,
)
from senhealth.web.fhir_client import FhirError, resources
from senhealth.web.i18n import parse_when
from senhealth.web.sessions import Session
from senhealth.web.views.emr_certificates import holder_certificates
from senhealth.web.views.emr_fhir import emr_fhir, in_language
from senhealth.web.views.imaging_wado import ROUTES as WADO_ROUTES
from senhealth.web.views.imaging_wado import dicomweb_json, viewer_images

__all__ = ["ROUTES", "TEXT", "worklist_rows"]

AI_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/imaging-ai"
SD: Final = "https://senhealth.vn/fhir/StructureDefinition"
DEVICE_EXT: Final = f"{SD}/ai-model-device"
DICOM_OBJECT_EXT: Final = f"{SD}/ai-dicom-object"
PRESENT: Final = "52101004"
PRIORITY_RANK: Final = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
READERS: Final = frozenset({"doctor", "radiologist"})
CSS: Final = "/static/web/imaging-viewer.css"
JS: Final = "/static/web/imaging-viewer.js"

TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "worklist": "Danh sách đọc phim",
        "worklist_hint": "Ca AI nghi bất thường (ưu tiên khẩn) xếp trước, sau đó ca chờ lâu nhất.",
        "empty": "Không có ca nào chờ đọc.",
        "priority": "Ưu tiên",
        "urgent": "Khẩn",
        "routine": "Thường",
        "patient": "Người bệnh",
        "study": "Ca chụp",
        "received": "Nhận lúc",
        "ai": "Kết quả AI",
        "open": "Đọc phim",
        "present": "Nghi có {finding}",
        "absent": "Không thấy {finding}",
        "probability": "xác suất {p}",
        "report": "Đọc phim và duyệt kết quả AI",
        "back": "← Danh sách đọc phim",
        "viewer": "Ảnh",
        "viewer_help": "Kéo chuột trái: cửa sổ/mức; Shift + kéo hoặc chuột phải: di chuyển; lăn chuột: chuyển ảnh; "
        "Ctrl + lăn chuột hoặc +/−: phóng to; phím ↑↓: ảnh trước/sau; 1–4: cửa sổ mặc định; O: bật/tắt vùng AI; R: đặt lại.",
        "overlay": "Vùng AI (O)",
        "reset": "Đặt lại (R)",
        "prev": "Ảnh trước",
        "next": "Ảnh sau",
        "zoom_in": "Phóng to",
        "zoom_out": "Thu nhỏ",
        "preset_default": "Mặc định",
        "preset_full": "Toàn dải",
        "preset_soft": "Mô mềm",
        "preset_bone": "Xương",
        "frame": "Ảnh",
        "window": "Cửa sổ",
        "loading": "Đang tải ảnh…",
        "no_images": "Ca chụp này không có ảnh để xem.",
        "ai_result": "Kết quả sơ bộ của AI",
        "model": "Mô hình",
        "not_clinical": "Mô hình minh họa, không dùng cho lâm sàng: kết quả chỉ để tham khảo và luôn cần bác sĩ đọc.",
        "verdict": "Ý kiến của bác sĩ",
        "accept": "Đồng ý với AI",
        "edit": "Sửa kết luận",
        "reject": "Bác bỏ kết quả AI",
        "finding_present": "Kết luận của bác sĩ",
        "keep": "Giữ như AI",
        "yes": "Có {finding}",
        "no": "Không có {finding}",
        "conclusion": "Kết luận (bắt buộc khi sửa hoặc bác bỏ)",
        "certificate": "Chữ ký số",
        "my_certificate": "Ký bằng chứng thư số của tôi (người lập báo cáo)",
        "facility_too": "Cơ sở ký thêm bằng chứng thư số của cơ sở",
        "no_certificate": "Bạn chưa được cấp chứng thư số ({user}): hãy đề nghị quản trị chứng thư cấp; báo cáo cuối cần chữ ký số.",
        "sign": "Ký báo cáo cuối",
        "not_signed": "Báo cáo chưa được ký.",
        "signed_notice": "Đã ký báo cáo cuối.",
        "final": "Báo cáo cuối",
        "status_final": "Đã ký (chính thức)",
        "status_preliminary": "Sơ bộ (chưa được bác sĩ đọc)",
        "interpreter": "Bác sĩ đọc",
        "agrees": "Bác sĩ đồng ý với AI",
        "disagrees": "Bác sĩ không đồng ý với AI",
        "signature": "Chữ ký",
        "signature_valid": "Chữ ký hợp lệ",
        "signature_invalid": "Chữ ký không hợp lệ",
        "not_reader": "Trang này dành cho bác sĩ đọc phim.",
        "not_found": "Không tìm thấy kết quả này.",
        "hint_401": "Hãy đăng nhập lại rồi ký.",
        "hint_403": "Chỉ bác sĩ của cơ sở đã chạy mô hình mới duyệt kết quả này.",
        "hint_409": "Kết quả đã được duyệt hoặc vừa thay đổi: hãy tải lại trang.",
        "hint_422": "Chứng thư số chưa ký được hoặc thiếu kết luận. Nếu chứng thư bị thu hồi hay hết hạn, hãy đề nghị cấp mới.",
        "hint_503": "Dịch vụ ký số (dấu thời gian hoặc trạng thái chứng thư) đang không truy cập được; hãy thử lại sau ít phút.",
    },
    "en": {
        "worklist": "Reading worklist",
        "worklist_hint": "Studies the AI finds likely abnormal (urgent) first, then the longest waiting.",
        "empty": "No study is waiting to be read.",
        "priority": "Priority",
        "urgent": "Urgent",
        "routine": "Routine",
        "patient": "Patient",
        "study": "Study",
        "received": "Received",
        "ai": "AI result",
        "open": "Read",
        "present": "{finding} suspected",
        "absent": "No {finding} seen",
        "probability": "probability {p}",
        "report": "Read the study and review the AI result",
        "back": "← Reading worklist",
        "viewer": "Images",
        "viewer_help": "Left drag: window/level; Shift + drag or right drag: pan; wheel: next/previous image; "
        "Ctrl + wheel or +/−: zoom; ↑↓ keys: previous/next image; 1–4: window presets; O: AI overlay on/off; R: reset.",
        "overlay": "AI overlay (O)",
        "reset": "Reset (R)",
        "prev": "Previous image",
        "next": "Next image",
        "zoom_in": "Zoom in",
        "zoom_out": "Zoom out",
        "preset_default": "Default",
        "preset_full": "Full range",
        "preset_soft": "Soft tissue",
        "preset_bone": "Bone",
        "frame": "Image",
        "window": "Window",
        "loading": "Loading images…",
        "no_images": "This study has no image to show.",
        "ai_result": "The AI's preliminary result",
        "model": "Model",
        "not_clinical": "Demonstration model, not for clinical use: its result is advisory and always needs a radiologist.",
        "verdict": "The radiologist's verdict",
        "accept": "Accept the AI result",
        "edit": "Edit the conclusion",
        "reject": "Reject the AI result",
        "finding_present": "The radiologist's call",
        "keep": "As the AI",
        "yes": "{finding} present",
        "no": "No {finding}",
        "conclusion": "Conclusion (required to edit or reject)",
        "certificate": "Digital signature",
        "my_certificate": "Sign with my certificate (as the report's author)",
        "facility_too": "The facility's certificate signs too",
        "no_certificate": "No signing certificate has been issued to you ({user}): ask the certificate administrator; the final report needs a signature.",
        "sign": "Sign the final report",
        "not_signed": "The report was not signed.",
        "signed_notice": "The final report is signed.",
        "final": "Final report",
        "status_final": "Signed (final)",
        "status_preliminary": "Preliminary (not yet read by a radiologist)",
        "interpreter": "Read by",
        "agrees": "The radiologist agrees with the AI",
        "disagrees": "The radiologist disagrees with the AI",
        "signature": "Signature",
        "signature_valid": "The signature is valid",
        "signature_invalid": "The signature is not valid",
        "not_reader": "This page is for radiologists and doctors who read images.",
        "not_found": "This result was not found.",
        "hint_401": "Sign in again, then sign.",
        "hint_403": "Only a doctor of the facility that ran the model reviews this result.",
        "hint_409": "The result was already reviewed or just changed: reload the page.",
        "hint_422": "The certificate cannot sign now, or the conclusion is missing. If the certificate is revoked or expired, ask for a new one.",
        "hint_503": "The signing service (timestamp or certificate status) cannot be reached now; try again in a few minutes.",
    },
}


def _refusal(status: int, tx: dict[str, str], key: str) -> PageError:
    """The page's refusal in the user's language (the texts are this page's own bilingual table)."""
    return PageError(status, tx[key])


def _text(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "vi"]


def _ref_id(value: Any, res_type: str) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else value
    if isinstance(ref, str) and ref.startswith(f"{res_type}/"):
        return ref.split("/", 1)[1].split("/")[0]
    return None


async def _reader(request: Request) -> Session:
    found = await require_staff(request)
    if found.role not in READERS:
        raise _refusal(403, _text(lang_of(request)), "not_reader")
    return found


def _name(resource: dict[str, Any] | None) -> str:
    names = (resource or {}).get("name") or [{}]
    first = names[0] if isinstance(names, list) else {}
    return str(first.get("text") or " ".join([first.get("family", ""), *first.get("given", [])]).strip())


def _finding_text(obs: dict[str, Any] | None, lang: str) -> str:
    text = str(((obs or {}).get("code") or {}).get("text") or "")
    if " / " in text:
        vi, en = text.split(" / ", 1)
        return (vi if lang == "vi" else en).lower()
    return text.lower()


def _ai_summary(obs: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    """The AI's call and probability from its Observation."""
    tx = _text(lang)
    if obs is None:
        return {"present": None, "probability": None, "text": ""}
    codings = (obs.get("valueCodeableConcept") or {}).get("coding") or []
    present = any(c.get("code") == PRESENT for c in codings)
    probability = None
    for comp in obs.get("component") or []:
        if any(c.get("code") == "probability" for c in (comp.get("code") or {}).get("coding") or []):
            probability = (comp.get("valueQuantity") or {}).get("value")
    finding = _finding_text(obs, lang)
    text = tx["present" if present else "absent"].format(finding=finding)
    if probability is not None:
        text += " (" + tx["probability"].format(p=f"{100 * float(probability):.0f}%") + ")"
    return {"present": present, "probability": probability, "text": text, "finding": finding}


def worklist_rows(bundle: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The worklist's rows from a Task search bundle with its included reports, Observations and patients:
    urgent first, then the oldest."""
    included: dict[str, dict[str, Any]] = {}
    for res in resources(bundle):
        included[f"{res.get('resourceType')}/{res.get('id')}"] = res
    rows = []
    for task in resources(bundle, "Task"):
        report = included.get(str((task.get("focus") or {}).get("reference", "")))
        if report is None:
            continue
        obs_ref = str(((report.get("result") or [{}])[0]).get("reference", ""))
        patient = included.get(str((task.get("for") or {}).get("reference", "")))
        study = str(((report.get("imagingStudy") or [{}])[0]).get("reference", "")).removeprefix(
            "ImagingStudy/"
        )
        rows.append(
            {
                "report": report["id"],
                "priority": str(task.get("priority") or "routine"),
                "authored": parse_when(str(task.get("authoredOn") or "")),
                "authored_text": str(task.get("authoredOn") or ""),
                "patient": _name(patient) or str((task.get("for") or {}).get("reference", "")),
                "study": study,
                "ai": _ai_summary(included.get(obs_ref), lang),
            }
        )
    rows.sort(key=lambda r: (PRIORITY_RANK.get(r["priority"], 9), r["authored_text"]))
    return rows


async def worklist(request: Request) -> Response:
    found = await _reader(request)
    lang = lang_of(request)
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("code", f"{AI_SYSTEM}|review-ai-result"),
        ("status", "requested"),
        ("_include", "Task:focus"),
        ("_include", "Task:patient"),
        ("_count", "200"),
    ]
    if found.facility:
        params.append(("owner", found.facility))
    async with fhir(request, found) as client:
        bundle = await client.search("Task", params)
        # the reports' AI Observations (one search: their ids)
        obs_ids = [
            str(((r.get("result") or [{}])[0]).get("reference", "")).removeprefix("Observation/")
            for r in resources(bundle, "DiagnosticReport")
        ]
        if obs_ids:
            found_obs = await client.search("Observation", [("_id", ",".join(obs_ids)), ("_count", "200")])
            bundle = {**bundle, "entry": [*(bundle.get("entry") or []), *(found_obs.get("entry") or [])]}
    rows = worklist_rows(bundle, lang)
    return render(
        request,
        "imaging/worklist.html",
        {"L": _text(lang), "rows": rows, "css": CSS},
    )


def _dicom_objects(report: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"SR": [], "SEG": []}
    for ext in report.get("extension") or []:
        if ext.get("url") == DICOM_OBJECT_EXT:
            ref = ext.get("valueReference") or {}
            uid = str((ref.get("identifier") or {}).get("value", "")).removeprefix("urn:oid:")
            out.setdefault(str(ref.get("display", "")), []).append(uid)
    return out


async def _report_context(request: Request, found: Session) -> dict[str, Any]:
    lang = lang_of(request)
    tx = _text(lang)
    report_id = request.path_params["report_id"]
    async with fhir(request, found) as client:
        try:
            report = await client.read("DiagnosticReport", report_id)
        except FhirError as e:
            if e.status in (403, 404, 410):
                raise _refusal(404, tx, "not_found") from None
            raise
        tags = (report.get("meta") or {}).get("tag") or []
        if not any(t.get("system") == AI_SYSTEM for t in tags):
            raise _refusal(404, tx, "not_found")
        patient_id = _ref_id(report.get("subject"), "Patient")
        patient = await client.read("Patient", patient_id) if patient_id else None
        ai_obs_id = None
        for ext in report.get("extension") or []:
            if ext.get("url") == f"{SD}/ai-result":
                ai_obs_id = _ref_id(ext.get("valueReference"), "Observation")
        if ai_obs_id is None:
            ai_obs_id = _ref_id((report.get("result") or [{}])[0], "Observation")
        ai_obs = await client.read("Observation", ai_obs_id) if ai_obs_id else None
        study_id = _ref_id((report.get("imagingStudy") or [{}])[0], "ImagingStudy") or ""
        composition = None
        if report.get("status") == "final":
            comps = await client.search(
                "Composition", [("entry", f"DiagnosticReport/{report_id}"), ("_count", "5")]
            )
            composition = next(resources(comps, "Composition"), None)
    device = next(
        (
            str((e.get("valueReference") or {}).get("display", ""))
            for e in report.get("extension") or []
            if e.get("url") == DEVICE_EXT
        ),
        "",
    )
    objects = _dicom_objects(report)
    viewer = await viewer_images(request, found, study_id, objects.get("SEG", []))
    verify = None
    if composition is not None:
        async with emr_fhir(request, found) as api:
            answer = await api.get(f"Composition/{composition['id']}/$verify")
        if answer.ok and answer.json is not None:
            verify = next(
                (p.get("valueBoolean") for p in answer.json.get("parameter", []) if p.get("name") == "valid"),
                None,
            )
    settings = state(request).settings
    mine = await holder_certificates(settings, "user", found.username)
    facility = _ref_id(found.facility, "Organization") if found.facility else None
    theirs = await holder_certificates(settings, "organization", facility, check=False) if facility else []
    ai = _ai_summary(ai_obs, lang)
    return {
        "L": tx,
        "css": CSS,
        "js": JS,
        "report": report,
        "report_id": report_id,
        "final": report.get("status") == "final",
        "patient": _name(patient),
        "patient_id": patient_id,
        "study_id": study_id,
        "ai": ai,
        "device": device,
        "interpreter": ", ".join(str(r.get("display", "")) for r in report.get("resultsInterpreter") or []),
        "agrees": None if report.get("status") != "final" else _agrees(report),
        "composition": composition,
        "signature_valid": verify,
        "viewer_json": orjson.dumps(viewer).decode(),
        "has_images": bool(viewer["images"]),
        "own_certificates": mine,
        "usable_own": any(c.current and c.has_key and c.valid is not False for c in mine),
        "usable_org": any(c.current and c.has_key for c in theirs),
        "errors": [],
        "hint": None,
        "chosen": {"verdict": "accept", "finding": "", "conclusion": ""},
        "signed_notice": request.query_params.get("signed") == "1",
    }


def _agrees(report: dict[str, Any]) -> bool | None:
    for tag in (report.get("meta") or {}).get("tag") or []:
        if tag.get("code") == "accepted":
            return True
        if tag.get("code") == "rejected":
            return False
    return None


async def report_page(request: Request) -> Response:
    found = await _reader(request)
    return render(request, "imaging/report.html", await _report_context(request, found))


@csrf_protected
async def review(request: Request, form: FormData) -> Response:
    """``POST .../review``: ``$ai-review`` with the form's verdict; the server decides who may."""
    found = await _reader(request)
    lang = lang_of(request)
    report_id = request.path_params["report_id"]
    verdict = str(form.get("verdict") or "")
    finding = str(form.get("finding") or "")
    conclusion = str(form.get("conclusion") or "").strip()
    parameters: list[dict[str, Any]] = [{"name": "verdict", "valueCode": verdict}]
    if finding in ("present", "absent") and verdict == "edit":
        parameters.append({"name": "findingPresent", "valueBoolean": finding == "present"})
    if conclusion:
        parameters.append({"name": "conclusion", "valueString": conclusion})
    if form.get("facility_signature"):
        parameters.append({"name": "facilitySignature", "valueBoolean": True})
    async with emr_fhir(request, found) as api:
        answer = await api.post_parameters(f"DiagnosticReport/{report_id}/$ai-review", parameters)
    if answer.ok:
        raise Redirect(f"/app/imaging/reports/{report_id}?signed=1")
    context = await _report_context(request, found)
    context["chosen"] = {"verdict": verdict, "finding": finding, "conclusion": conclusion}
    context["errors"] = [{"where": i.expression, "text": in_language(i.text, lang)} for i in answer.issues]
    context["hint"] = _text(lang).get(f"hint_{answer.status}")
    return render(
        request, "imaging/report.html", context, status=answer.status if answer.status < 500 else 502
    )


async def report_json(request: Request) -> Response:
    """The viewer's data of a report (instances, value ranges, overlay), for a page that reloads it."""
    found = await _reader(request)
    context = await _report_context(request, found)
    return dicomweb_json(orjson.loads(context["viewer_json"]))


_ONE: Final = "/app/imaging/reports/{report_id:str}"

ROUTES = [
    Route("/app/imaging/worklist", worklist, methods=["GET"]),
    Route(_ONE, report_page, methods=["GET"]),
    Route(_ONE + "/review", review, methods=["POST"]),
    Route(_ONE + "/viewer.json", report_json, methods=["GET"]),
    *WADO_ROUTES,
]
