"""The catalogue of CDS services (discovery) and the answer to one service call.

Spec: https://cds-hooks.hl7.org/1.0/#discovery (``{"services": [{hook, title, description, id,
prefetch}]}``) and https://cds-hooks.hl7.org/1.0/#calling-a-cds-service. Services:

| id | hook | cards |
|---|---|---|
| ``senhealth-patient-view`` | ``patient-view`` | :mod:`.patient_view` |
| ``senhealth-order-select`` | ``order-select`` | :mod:`.order_checks` |
| ``senhealth-order-sign`` | ``order-sign`` | :mod:`.order_checks` |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from senhealth.checkup.cds import order_checks, patient_view
from senhealth.checkup.cds.cards import Language
from senhealth.checkup.cds.hook_request import CdsError, parse_hook_request
from senhealth.checkup.cds.prefetch import FhirFetch, resolve_prefetch

__all__ = ["SERVICES", "CdsService", "call_service", "discovery"]


@dataclass(frozen=True, slots=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
            "prefetch": dict(self.prefetch),
        }


SERVICES: Final[Mapping[str, CdsService]] = {
    s.id: s
    for s in (
        CdsService(
            "senhealth-patient-view",
            "patient-view",
            "Sen Health: nguy cơ tim mạch, sàng lọc, huyết áp / CVD risk, screening, blood pressure",
            "Nguy cơ tim mạch 10 năm (WHO 2019, Đông Nam Á), khám sức khỏe hằng năm và sàng lọc ung thư cổ "
            "tử cung quá hạn, huyết áp chưa kiểm soát ở người tăng huyết áp. / 10-year cardiovascular risk "
            "(WHO 2019, Southeast Asia), overdue annual check-up and cervical screening, uncontrolled blood "
            "pressure in hypertension.",
            patient_view.PREFETCH,
        ),
        CdsService(
            "senhealth-order-select",
            "order-select",
            "Sen Health: tương tác thuốc / drug interactions (order-select)",
            "Tương tác thuốc và trùng nhóm điều trị của đơn thuốc vừa chọn, theo danh mục thuốc có nguồn "
            "tham khảo. / Drug-drug interactions and duplicate therapy of the selected orders, from a "
            "curated drug list with published sources.",
            order_checks.PREFETCH,
        ),
        CdsService(
            "senhealth-order-sign",
            "order-sign",
            "Sen Health: tương tác thuốc / drug interactions (order-sign)",
            "Tương tác thuốc và trùng nhóm điều trị của các đơn thuốc trước khi ký. / Drug-drug interactions "
            "and duplicate therapy of the orders about to be signed.",
            order_checks.PREFETCH,
        ),
    )
}


def discovery() -> dict[str, Any]:
    """The discovery document."""
    return {"services": [s.to_json() for s in SERVICES.values()]}


async def call_service(
    service_id: str,
    body: Any,
    *,
    lang: Language = "vi",
    fetch: FhirFetch | None = None,
    is_local: Callable[[str], bool] = lambda _url: False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The response (``{"cards": [...]}``) of service ``service_id`` to the request ``body`` (parsed JSON).

    Raises :class:`CdsError`: 404 for an unknown service, 400 for a request that does not fit the spec
    or the hook, 412 when required data is neither prefetched nor readable (:mod:`.prefetch`)."""
    service = SERVICES.get(service_id)
    if service is None:
        raise CdsError(404, f"No CDS service {service_id!r} here: GET /cds-services lists them")
    request = parse_hook_request(body, service.hook)
    data = await resolve_prefetch(service.prefetch, request, fetch, is_local)
    when = now or datetime.now(UTC)
    if service.hook == "patient-view":
        cards = patient_view.patient_view_cards(request.patient_id, data, when)
    else:
        cards = order_checks.order_cards(service.hook, request.context, data)
    return {"cards": [c.to_json(lang) for c in cards]}
