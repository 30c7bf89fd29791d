"""Assembles the platform: the only module that knows every layer (DESIGN.md §2).

The FHIR core calls upward only through interfaces it defines (operation registry, access policy,
audit sink, write hooks, terminology hooks); :func:`bootstrap` fills them at start-up:

- the access policy :class:`senhealth.security.policy.RolePolicy` and the audit sink
  :class:`senhealth.security.audit.PostgresAuditSink` (:mod:`senhealth.fhir.access`);
- the operations of the lower layers (``Patient/$match`` from the patient index, and
  ``Patient/$everything`` over the records it linked to one person, under the patient's consent).

:func:`build_app` is the application ``senhealth serve`` runs (``uvicorn --factory
senhealth.app:build_app``): the FHIR API of :func:`senhealth.api.create_app` with the platform wired in.
The FHIR core's own tests use ``create_app`` alone (open policy, no audit).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from senhealth.core.config import Settings
    from senhealth.fhir.access import Principal

__all__ = ["bootstrap", "build_app", "install_platform"]


@cache
def bootstrap() -> None:
    """Wire the layers together once per process (idempotent)."""
    from senhealth.fhir.model import get_model

    get_model()


async def _person_name(principal: Principal) -> str | None:
    """The name printed on a paper copy as the person who printed it: the account's display name."""
    from senhealth.security.accounts import get_user

    user = await get_user(principal.subject)
    return (user.display_name or user.username) if user is not None else None


def install_platform(settings: Settings | None = None) -> None:
    """Install the access policy, the audit sink, the write hooks and the platform's operations into the
    FHIR core (this process): the server and the worker both call it."""
    from senhealth.analytics import scheduled_reports
    from senhealth.analytics.bulk import register_bulk_operations
    from senhealth.api.reports import checkup_providers
    from senhealth.checkup.assessment import install_assessment
    from senhealth.checkup.campaigns import register_campaign_operations
    from senhealth.checkup.forms import register_forms_operations
    from senhealth.core.config import get_settings
    from senhealth.emr.claims.operations import register_claims_operations
    from senhealth.emr.documents.operations import register_document_operations
    from senhealth.emr.exchange.operations import register_exchange_operations
    from senhealth.emr.pki.installation import trust_roots as pki_trust_roots
    from senhealth.emr.pki.keystore import signing_key as pki_signing_key
    from senhealth.emr.printing import register_printing_operations
    from senhealth.emr.signatures import register_signature_operations
    from senhealth.fhir import access
    from senhealth.fhir.subscriptions import install as install_subscriptions
    from senhealth.fhir.subscriptions import register_topics
    from senhealth.imaging.platform import install_imaging
    from senhealth.mpi.operations import register_mpi_operations
    from senhealth.security.audit import PostgresAuditSink
    from senhealth.security.consent import shareable_linked_records
    from senhealth.security.policy import RolePolicy
    from senhealth.surveillance.alerts import register_alert_operations
    from senhealth.surveillance.cases import install_case_detection
    from senhealth.surveillance.detection import install_detection_trigger
    from senhealth.telehealth.consults import CONSULT_TOPICS, register_consult_operations
    from senhealth.telehealth.referrals import register_referral_operations
    from senhealth.telehealth.visits import register_visit_operations

    access.install(policy=RolePolicy.from_settings(settings or get_settings()), sink=PostgresAuditSink())
    # Patient/$everything over the records linked to one person: other facilities' records only where the
    # patient's consent allows sharing for treatment (docs/consent.md).
    register_mpi_operations(may_share=shareable_linked_records)
    # topic-based subscriptions: the write hook recording events, $status / $events / $get-ws-binding-token;
    # the consults' own topics (consult-task, consult-message) registered before the hook is installed
    register_topics(CONSULT_TOPICS)
    install_subscriptions()
    # Bulk Data: $export (system, Patient, Group) and $import, run by the worker (docs/bulk.md)
    register_bulk_operations(settings)
    # clinical documents ($document, $create-document) and the Vietnamese exchange formats ($hosobenhan,
    # $health-book, $e-prescription): docs/documents.md
    register_document_operations()
    register_exchange_operations()
    # Composition/$sign, $verify, $amend, $confirm and the guard keeping signed documents unchanged:
    # docs/signatures.md
    register_signature_operations(settings)
    # teleconsultation between facilities: ServiceRequest/$consult-request, Task/$consult-accept, -decline,
    # -schedule, -conclude (a signed conclusion in both facilities' records), messages: docs/telehealth-consults.md
    register_consult_operations()
    # the insurance claim XML: Encounter/$claim-xml signed with the facility's key, $import-claim-xml
    # (docs/claims.md)
    cfg = settings or get_settings()
    register_claims_operations(
        signing_key=lambda org: pki_signing_key(cfg, organization=org),
        trust_roots=lambda: pki_trust_roots(cfg),
        allow_unsigned=cfg.claims_allow_unsigned,
    )
    # Composition/$pdf: the signed PDF and printed copies (marked, with a look-up code; audited): docs/printing.md
    register_printing_operations(cfg, person_name=_person_name)
    # risks recomputed when a patient's data changes (a job per patient, by the worker), registries: docs/checkup-registries.md
    install_assessment()
    # notifiable-disease case detection (a job per patient, by the worker) and the weekly series: docs/surveillance.md
    install_case_detection()
    # the outbreak detectors run after the series change (debounced), hourly, and on demand: docs/surveillance-detectors.md
    install_detection_trigger()
    # outbreak alerts: Task/$alert-triage, $alert-assign, $alert-verify, $alert-respond, $alert-close
    # (signal → triage → verification → event → response → closure): docs/surveillance-alerts.md
    register_alert_operations()
    # referrals (request → acceptance → signed summary + XML13 → arrival → return letter) and remote visits for
    # the conditions of Circular 30/2023 (booking, the visit's Encounter, the e-prescription):
    # docs/telehealth-referrals.md, docs/telehealth-visits.md
    register_referral_operations()
    register_visit_operations()
    # check-up forms: QuestionnaireResponse/$extract (SDC definition-based extraction): docs/checkup-forms.md
    register_forms_operations()
    # check-up campaigns: $plan-checkups, $checkup-coverage: docs/checkup-campaigns.md
    register_campaign_operations()
    # imaging: new studies queue the AI in the storing transaction; the worker reads and writes the archive;
    # DiagnosticReport/$ai-review (docs/imaging-ai.md §6)
    install_imaging(cfg)
    # the monthly PDF report reads the check-up rates through the application (analytics may not import checkup)
    scheduled_reports.register_providers(checkup_providers)


def build_app(settings: Settings | None = None) -> FastAPI:
    """The platform's web application (see the module docstring): the FHIR API, the OAuth 2.0 / SMART
    authorization server on the accounts, bearer tokens checked on every request, and the web
    application (staff pages under ``/app``, the citizen's portal under ``/portal``)."""
    from senhealth.api import create_app
    from senhealth.api.auth import install_auth
    from senhealth.api.bulk import bulk_router
    from senhealth.api.cds_hooks import cds_hooks_router
    from senhealth.api.dicomweb import dicomweb_router
    from senhealth.api.pki import pki_router
    from senhealth.api.reports import reports_router
    from senhealth.api.subscriptions import subscriptions_router
    from senhealth.api.telehealth_rooms import telehealth_rooms_router
    from senhealth.api.views import views_router
    from senhealth.security.directory import AccountDirectory
    from senhealth.security.oauth.bearer import authenticate_request
    from senhealth.web import install_web

    bootstrap()
    install_platform(settings)
    routers = [
        views_router(),
        subscriptions_router(),
        bulk_router(),
        pki_router(),
        cds_hooks_router(),
        telehealth_rooms_router(),  # video rooms: tokens and the signalling WebSocket (docs/telehealth-video.md)
        dicomweb_router(),  # DICOMweb STOW-RS / QIDO-RS / WADO-RS at /dicomweb (docs/imaging-dicom.md)
        reports_router(),  # /api/reports/14bct, indicators, /api/dhis2/dataValueSets (docs/reports-14bct.md, docs/dhis2.md)
    ]
    app = create_app(settings, authenticate=authenticate_request, extra_routers=routers)
    install_auth(app, AccountDirectory(), settings=settings)
    install_web(app, settings)
    return app
