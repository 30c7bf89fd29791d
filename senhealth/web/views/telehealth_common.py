"""What the telemedicine pages share: their bilingual texts, the signed-in clinician, small helpers.

The pages (:mod:`.telehealth_consults`, :mod:`.telehealth_calendar`, :mod:`.telehealth_referrals`,
:mod:`.telehealth_portal`, :mod:`.telehealth_recording`) keep their texts here in both languages
(:data:`TEXT`, Vietnamese first, English with ``?lang=en``) rather than in the pages' message catalogue,
as the check-up dashboard does (:mod:`.dashboard_checkup`): a template reads ``tx.<key>``.

docs/web-telehealth.md.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final
from zoneinfo import ZoneInfo

from starlette.requests import Request

from senhealth.fhir.access import Principal
from senhealth.security import accounts
from senhealth.security.policy import CARE_ROLES
from senhealth.web.context import PageError, lang_of, require_staff, state
from senhealth.web.sessions import Session

__all__ = [
    "FHIR_ID",
    "TEXT",
    "fhir_id",
    "local_zone",
    "parse_when",
    "principal_of",
    "refusal",
    "require_clinician",
    "room_texts",
    "text_of",
]

FHIR_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        # navigation
        "nav.consults": "Hội chẩn từ xa",
        "nav.calendar": "Lịch khám từ xa",
        "nav.referrals": "Chuyển tuyến",
        "nav.portal": "Khám từ xa",
        # statuses and priorities
        "status.requested": "Chờ nhận",
        "status.accepted": "Đã nhận",
        "status.in-progress": "Đã hẹn lịch",
        "status.completed": "Đã kết luận",
        "status.rejected": "Từ chối",
        "status.overdue": "Quá hạn",
        "priority.routine": "Thường quy",
        "priority.urgent": "Khẩn",
        "priority.asap": "Càng sớm càng tốt",
        "priority.stat": "Cấp cứu",
        # inbox
        "inbox.title": "Hội chẩn từ xa",
        "inbox.sent": "Yêu cầu đã gửi",
        "inbox.received": "Yêu cầu nhận được",
        "inbox.new": "Gửi yêu cầu hội chẩn",
        "inbox.none": "Chưa có yêu cầu nào.",
        "inbox.patient": "Người bệnh",
        "inbox.question": "Câu hỏi",
        "inbox.status": "Trạng thái",
        "inbox.priority": "Mức độ",
        "inbox.deadline": "Hạn trả lời",
        "inbox.from": "Nơi gửi",
        "inbox.to": "Nơi nhận",
        "inbox.specialist": "Bác sĩ hội chẩn",
        "inbox.room": "Phòng video",
        "inbox.counts": "Theo trạng thái",
        # request form
        "new.title": "Yêu cầu hội chẩn từ xa",
        "new.patient": "Người bệnh",
        "new.patient_search": "Tìm người bệnh (họ tên hoặc số CCCD)",
        "new.search": "Tìm",
        "new.choose": "Chọn",
        "new.performer": "Cơ sở được mời hội chẩn",
        "new.specialist": "Bác sĩ được mời (không bắt buộc)",
        "new.anyone": "Bất kỳ bác sĩ nào của cơ sở",
        "new.question": "Câu hỏi hội chẩn",
        "new.reason": "Lý do / chẩn đoán sơ bộ",
        "new.priority": "Mức độ khẩn",
        "new.summary": "Tóm tắt bệnh án",
        "new.cite": "Kết quả đã có của người bệnh (đính kèm vào yêu cầu)",
        "new.no_results": "Người bệnh chưa có kết quả xét nghiệm hay chẩn đoán hình ảnh.",
        "new.photos": "Ảnh, điện tim, tệp (tối đa 10 tệp, mỗi tệp 10 MiB)",
        "new.send": "Gửi yêu cầu",
        "new.sent": "Đã gửi yêu cầu hội chẩn.",
        "new.refused": "Chưa gửi được yêu cầu:",
        "new.pick_patient": "Chọn người bệnh trước.",
        # consult page
        "case.title": "Hội chẩn",
        "case.request": "Yêu cầu",
        "case.summary": "Tóm tắt bệnh án",
        "case.cited": "Kết quả và tệp đính kèm",
        "case.messages": "Trao đổi",
        "case.no_messages": "Chưa có tin nhắn.",
        "case.reply": "Gửi tin nhắn",
        "case.message": "Nội dung",
        "case.attach": "Tệp đính kèm",
        "case.send": "Gửi",
        "case.reply_to": "Trả lời",
        "case.accept": "Nhận hội chẩn",
        "case.accept_note": "Ghi chú (không bắt buộc)",
        "case.decline": "Từ chối",
        "case.decline_reason": "Lý do từ chối",
        "case.schedule": "Hẹn lịch hội chẩn video",
        "case.start": "Thời gian bắt đầu",
        "case.minutes": "Số phút",
        "case.comment": "Ghi chú cho lịch hẹn",
        "case.conclude": "Kết luận hội chẩn (ký số)",
        "case.conclusion": "Kết luận",
        "case.recommendation": "Hướng xử trí, khuyến nghị",
        "case.diagnosis": "Chẩn đoán (mã ICD-10, mỗi dòng một mã)",
        "case.sign_note": "Kết luận được ký bằng chứng thư số của bạn, có dấu thời gian, và lưu vào hồ sơ của cả hai cơ sở.",
        "case.no_certificate": "Bạn chưa có chứng thư số để ký: liên hệ quản trị chứng thư trước khi kết luận.",
        "case.certificate": "Chứng thư ký",
        "case.sign": "Ký và gửi kết luận",
        "case.appointment": "Lịch hội chẩn video",
        "case.join": "Vào phòng video",
        "case.conclusion_signed": "Kết luận đã ký",
        "case.signature_valid": "Chữ ký hợp lệ",
        "case.signature_invalid": "Chữ ký không hợp lệ",
        "case.in_records": "Đã lưu vào hồ sơ",
        "case.done": "Đã thực hiện.",
        "case.refused": "Không thực hiện được:",
        "case.declined_because": "Lý do từ chối",
        "case.history": "Các bước",
        "case.patient_chart": "Hồ sơ người bệnh",
        "case.download": "Tải về",
        # calendar
        "cal.title": "Lịch khám và hội chẩn từ xa",
        "cal.week": "Tuần",
        "cal.prev": "← Tuần trước",
        "cal.next": "Tuần sau →",
        "cal.free": "Còn trống",
        "cal.busy": "Đã đặt",
        "cal.visit": "Khám từ xa",
        "cal.consult": "Hội chẩn",
        "cal.room": "Vào phòng",
        "cal.none": "Không có lịch trong tuần này.",
        "cal.create": "Tạo khung giờ khám từ xa",
        "cal.from_date": "Từ ngày",
        "cal.weeks": "Số tuần",
        "cal.days": "Các ngày trong tuần",
        "cal.start_time": "Từ giờ",
        "cal.end_time": "Đến giờ",
        "cal.length": "Mỗi lượt (phút)",
        "cal.make": "Tạo khung giờ",
        "cal.made": "Đã tạo {n} khung giờ.",
        "cal.refused": "Chưa tạo được khung giờ:",
        "cal.free_count": "Khung trống",
        "cal.booked_count": "Lịch đã đặt",
        "day.0": "Thứ Hai",
        "day.1": "Thứ Ba",
        "day.2": "Thứ Tư",
        "day.3": "Thứ Năm",
        "day.4": "Thứ Sáu",
        "day.5": "Thứ Bảy",
        "day.6": "Chủ Nhật",
        # referrals
        "ref.title": "Bảng chuyển tuyến",
        "ref.outgoing": "Chuyển đi",
        "ref.incoming": "Chuyển đến",
        "ref.col.requested": "Đã yêu cầu",
        "ref.col.accepted": "Đã chấp nhận",
        "ref.col.summary-sent": "Đã gửi giấy chuyển tuyến",
        "ref.col.arrived": "Người bệnh đã đến",
        "ref.col.completed": "Đã gửi kết quả điều trị",
        "ref.declined": "Bị từ chối",
        "ref.none": "Không có",
        "ref.reasons": "Chẩn đoán",
        "ref.action.accept": "Chấp nhận",
        "ref.action.decline": "Từ chối",
        "ref.action.draft-summary": "Lập giấy chuyển tuyến",
        "ref.action.send-summary": "Gửi giấy chuyển tuyến đã ký",
        "ref.action.arrive": "Ghi nhận người bệnh đã đến",
        "ref.action.draft-return": "Lập giấy báo kết quả điều trị",
        "ref.action.return": "Gửi giấy báo kết quả đã ký",
        "ref.sign_draft": "Ký bản nháp",
        "ref.note": "Ghi chú",
        "ref.course": "Quá trình điều trị",
        "ref.advice": "Lời dặn",
        "ref.done": "Đã thực hiện bước chuyển tuyến.",
        "ref.refused": "Không thực hiện được bước này:",
        # portal
        "portal.title": "Khám bệnh từ xa",
        "portal.upcoming": "Lịch khám sắp tới",
        "portal.none": "Chưa có lịch khám từ xa.",
        "portal.join": "Vào cuộc gọi video",
        "portal.book": "Đặt lịch khám từ xa",
        "portal.condition": "Bệnh cần khám",
        "portal.condition_listed": "Bệnh trong danh mục khám, chữa bệnh từ xa (Thông tư 30/2023/TT-BYT)",
        "portal.condition_other": "Hoặc mã bệnh ICD-10 khác",
        "portal.slot": "Chọn bác sĩ và giờ khám",
        "portal.no_slots": "Hiện chưa có giờ khám từ xa còn trống.",
        "portal.channel": "Hình thức",
        "channel.video": "Gọi video",
        "channel.phone": "Gọi điện thoại",
        "portal.reason": "Triệu chứng, điều muốn hỏi",
        "portal.submit": "Đặt lịch",
        "portal.booked": "Đã đặt lịch khám từ xa.",
        "portal.warning": "Lưu ý: bệnh này không thuộc danh mục khám, chữa bệnh từ xa của Thông tư 30/2023/TT-BYT. Bác sĩ có thể đề nghị bạn đến khám trực tiếp.",
        "portal.refused": "Chưa đặt được lịch:",
        "portal.list_note": "Danh mục theo Thông tư 30/2023/TT-BYT; bệnh ngoài danh mục sẽ được cảnh báo hoặc không nhận đặt lịch, tùy quy định của cơ sở.",
        "portal.with": "với",
        "portal.when": "Thời gian",
        "portal.status": "Trạng thái",
        "appt.booked": "Đã đặt",
        "appt.arrived": "Đang khám",
        "appt.fulfilled": "Đã khám",
        "appt.cancelled": "Đã hủy",
        # room: files and recording
        "room.file": "Gửi tệp",
        "room.file_sent": "đã gửi tệp",
        "room.record": "Ghi hình",
        "room.stop": "Dừng ghi hình",
        "room.recording": "Đang ghi hình (mọi người đã đồng ý).",
        "room.ask_consent": "{name} xin phép ghi hình cuộc gọi này. Bạn có đồng ý không?",
        "room.agree": "Đồng ý",
        "room.refuse": "Không đồng ý",
        "room.waiting_consent": "Đang chờ mọi người đồng ý ghi hình…",
        "room.consent_refused": "Không ghi hình: có người không đồng ý.",
        "room.consented": "đồng ý ghi hình",
        "room.refused_consent": "không đồng ý ghi hình",
        "room.asks": "xin phép ghi hình cuộc gọi",
        "room.saved": "Bản ghi đã được lưu vào hồ sơ.",
        "room.not_saved": "Bản ghi chưa lưu được:",
        "room.too_large": "Tệp quá lớn.",
        "room.stopped_join": "Đã dừng ghi hình vì có người mới vào phòng.",
        # errors
        "err.clinician": "Trang này dành cho nhân viên y tế của một cơ sở (bác sĩ, điều dưỡng, y tế xã).",
        "err.no_practitioner": "Tài khoản của bạn chưa gắn với người hành nghề: liên hệ quản trị.",
        "err.bad_request": "Yêu cầu không hợp lệ.",
        "err.not_found": "Không tìm thấy.",
    },
    "en": {
        "nav.consults": "Teleconsultations",
        "nav.calendar": "Telehealth calendar",
        "nav.referrals": "Referrals",
        "nav.portal": "Remote visits",
        "status.requested": "Waiting",
        "status.accepted": "Accepted",
        "status.in-progress": "Scheduled",
        "status.completed": "Concluded",
        "status.rejected": "Declined",
        "status.overdue": "Overdue",
        "priority.routine": "Routine",
        "priority.urgent": "Urgent",
        "priority.asap": "As soon as possible",
        "priority.stat": "Emergency",
        "inbox.title": "Teleconsultations",
        "inbox.sent": "Requests sent",
        "inbox.received": "Requests received",
        "inbox.new": "Request a consultation",
        "inbox.none": "No requests yet.",
        "inbox.patient": "Patient",
        "inbox.question": "Question",
        "inbox.status": "Status",
        "inbox.priority": "Priority",
        "inbox.deadline": "Answer by",
        "inbox.from": "From",
        "inbox.to": "To",
        "inbox.specialist": "Specialist",
        "inbox.room": "Video room",
        "inbox.counts": "By status",
        "new.title": "Teleconsultation request",
        "new.patient": "Patient",
        "new.patient_search": "Find the patient (name or personal ID)",
        "new.search": "Search",
        "new.choose": "Choose",
        "new.performer": "Facility asked",
        "new.specialist": "Specialist asked (optional)",
        "new.anyone": "Any doctor of the facility",
        "new.question": "Question",
        "new.reason": "Reason / working diagnosis",
        "new.priority": "Priority",
        "new.summary": "Case summary",
        "new.cite": "The patient's results (cited in the request)",
        "new.no_results": "The patient has no results or imaging studies yet.",
        "new.photos": "Photos, ECG, files (at most 10 files of 10 MiB each)",
        "new.send": "Send the request",
        "new.sent": "The consultation request was sent.",
        "new.refused": "The request was not sent:",
        "new.pick_patient": "Choose the patient first.",
        "case.title": "Consultation",
        "case.request": "Request",
        "case.summary": "Case summary",
        "case.cited": "Results and attachments",
        "case.messages": "Messages",
        "case.no_messages": "No messages yet.",
        "case.reply": "Send a message",
        "case.message": "Text",
        "case.attach": "Attachments",
        "case.send": "Send",
        "case.reply_to": "In reply to",
        "case.accept": "Accept the consultation",
        "case.accept_note": "Note (optional)",
        "case.decline": "Decline",
        "case.decline_reason": "Reason for declining",
        "case.schedule": "Book the video meeting",
        "case.start": "Start",
        "case.minutes": "Minutes",
        "case.comment": "Note for the appointment",
        "case.conclude": "Conclusion (digitally signed)",
        "case.conclusion": "Conclusion",
        "case.recommendation": "Recommendations",
        "case.diagnosis": "Diagnoses (ICD-10 codes, one a line)",
        "case.sign_note": "The conclusion is signed with your certificate, timestamped, and filed in both facilities' records.",
        "case.no_certificate": "You have no signing certificate: ask the certificate administrator before concluding.",
        "case.certificate": "Signing certificate",
        "case.sign": "Sign and send the conclusion",
        "case.appointment": "Video meeting",
        "case.join": "Join the video room",
        "case.conclusion_signed": "Signed conclusion",
        "case.signature_valid": "Signature valid",
        "case.signature_invalid": "Signature not valid",
        "case.in_records": "Filed in the records of",
        "case.done": "Done.",
        "case.refused": "Not done:",
        "case.declined_because": "Reason for declining",
        "case.history": "Steps",
        "case.patient_chart": "Patient's record",
        "case.download": "Download",
        "cal.title": "Telehealth calendar",
        "cal.week": "Week",
        "cal.prev": "← Previous week",
        "cal.next": "Next week →",
        "cal.free": "Free",
        "cal.busy": "Booked",
        "cal.visit": "Remote visit",
        "cal.consult": "Consultation",
        "cal.room": "Join",
        "cal.none": "Nothing this week.",
        "cal.create": "Open remote-visit slots",
        "cal.from_date": "From",
        "cal.weeks": "Weeks",
        "cal.days": "Days of the week",
        "cal.start_time": "From",
        "cal.end_time": "To",
        "cal.length": "Each slot (minutes)",
        "cal.make": "Create the slots",
        "cal.made": "{n} slots created.",
        "cal.refused": "The slots were not created:",
        "cal.free_count": "Free slots",
        "cal.booked_count": "Booked",
        "day.0": "Monday",
        "day.1": "Tuesday",
        "day.2": "Wednesday",
        "day.3": "Thursday",
        "day.4": "Friday",
        "day.5": "Saturday",
        "day.6": "Sunday",
        "ref.title": "Referral board",
        "ref.outgoing": "Outgoing",
        "ref.incoming": "Incoming",
        "ref.col.requested": "Requested",
        "ref.col.accepted": "Accepted",
        "ref.col.summary-sent": "Summary sent",
        "ref.col.arrived": "Arrived",
        "ref.col.completed": "Returned",
        "ref.declined": "Declined",
        "ref.none": "None",
        "ref.reasons": "Diagnoses",
        "ref.action.accept": "Accept",
        "ref.action.decline": "Decline",
        "ref.action.draft-summary": "Draft the referral paper",
        "ref.action.send-summary": "Send the signed referral paper",
        "ref.action.arrive": "Record the arrival",
        "ref.action.draft-return": "Draft the return letter",
        "ref.action.return": "Send the signed return letter",
        "ref.sign_draft": "Sign the draft",
        "ref.note": "Note",
        "ref.course": "Treatment course",
        "ref.advice": "Advice",
        "ref.done": "The referral step was taken.",
        "ref.refused": "The step was not taken:",
        "portal.title": "Remote visits",
        "portal.upcoming": "Upcoming visits",
        "portal.none": "No remote visit booked.",
        "portal.join": "Join the video call",
        "portal.book": "Book a remote visit",
        "portal.condition": "Condition",
        "portal.condition_listed": "Conditions that may be treated remotely (Circular 30/2023/TT-BYT)",
        "portal.condition_other": "Or another ICD-10 code",
        "portal.slot": "Doctor and time",
        "portal.no_slots": "No free remote-visit time at the moment.",
        "portal.channel": "Channel",
        "channel.video": "Video call",
        "channel.phone": "Phone call",
        "portal.reason": "Symptoms, questions",
        "portal.submit": "Book",
        "portal.booked": "Your remote visit is booked.",
        "portal.warning": "Note: this condition is not on the list of Circular 30/2023/TT-BYT for remote treatment. The doctor may ask you to come in person.",
        "portal.refused": "The visit was not booked:",
        "portal.list_note": "The list of Circular 30/2023/TT-BYT; a condition outside it is warned about or refused, as the facility decides.",
        "portal.with": "with",
        "portal.when": "When",
        "portal.status": "Status",
        "appt.booked": "Booked",
        "appt.arrived": "In progress",
        "appt.fulfilled": "Done",
        "appt.cancelled": "Cancelled",
        "room.file": "Send a file",
        "room.file_sent": "sent a file",
        "room.record": "Record",
        "room.stop": "Stop recording",
        "room.recording": "Recording (everyone agreed).",
        "room.ask_consent": "{name} asks to record this call. Do you agree?",
        "room.agree": "I agree",
        "room.refuse": "I do not agree",
        "room.waiting_consent": "Waiting for everyone to agree to the recording…",
        "room.consent_refused": "Not recording: someone did not agree.",
        "room.consented": "agreed to the recording",
        "room.refused_consent": "did not agree to the recording",
        "room.asks": "asks to record the call",
        "room.saved": "The recording was filed in the record.",
        "room.not_saved": "The recording was not saved:",
        "room.too_large": "The file is too large.",
        "room.stopped_join": "Recording stopped: someone new joined the room.",
        "err.clinician": "This page is for the clinicians of a facility (doctors, nurses, commune health workers).",
        "err.no_practitioner": "Your account names no practitioner: ask the administrator.",
        "err.bad_request": "The request is not valid.",
        "err.not_found": "Not found.",
    },
}


def refusal(status: int, tx: dict[str, str], key: str) -> PageError:
    """An error page with one of this table's texts (already in the user's language)."""
    return PageError(status, tx[key])


def room_texts(lang: str) -> dict[str, str]:
    """The room page's texts for files and recording (keys without the ``room.`` prefix)."""
    table = TEXT["en" if lang == "en" else "vi"]
    return {k.removeprefix("room."): v for k, v in table.items() if k.startswith("room.")}


def text_of(request: Request) -> dict[str, str]:
    """The page texts in the request's language."""
    return TEXT["en" if lang_of(request) == "en" else "vi"]


def fhir_id(value: object) -> str:
    """``value`` as a FHIR id (``Type/`` prefix removed); 404 page when it is not one."""
    text = str(value or "").rsplit("/", 1)[-1]
    if not FHIR_ID.match(text):
        raise PageError(404, "This page does not exist.")
    return text


def local_zone(request: Request) -> ZoneInfo:
    return ZoneInfo(state(request).settings.timezone)


def parse_when(value: Any) -> dt.datetime | None:
    """A FHIR dateTime with its offset, else None."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


async def principal_of(found: Session) -> Principal:
    """The session's user as the platform's :class:`Principal` (the same identity its access token carries):
    for the store functions that decide by themselves who may see what (the inbox, the board, the room)."""
    user = await accounts.get_user(found.account_id)
    if user is None or user.disabled:
        raise PageError(403, "This page is for health workers. Your own record is in the citizen portal.")
    patient = (found.patient or user.patient or "").removeprefix("Patient/") or None
    practitioner = (user.practitioner or "").removeprefix("Practitioner/") or None
    return Principal(
        kind="patient" if found.is_patient else "user",
        subject=user.id,
        roles=frozenset({str(found.role)}),
        facility=found.facility,
        patient=patient if found.is_patient else None,
        practitioner=None if found.is_patient else practitioner,
        client_id="senhealth-web",
    )


async def require_clinician(request: Request) -> tuple[Session, Principal]:
    """A signed-in clinician (a care role at a facility, with a practitioner); 403 page otherwise."""
    found = await require_staff(request)
    tx = text_of(request)
    if found.role not in CARE_ROLES or not found.facility:
        raise refusal(403, tx, "err.clinician")
    principal = await principal_of(found)
    if not principal.practitioner:
        raise refusal(403, tx, "err.no_practitioner")
    return found, principal
