"""Referrals between facilities (issue 9, item 4; docs/telehealth-referrals.md).

- :mod:`.model`: the Task and ServiceRequest shapes, the steps, the caller's checks, the audit;
- :mod:`.papers`: the referral paper and the return letter (signed documents) and claim table XML13;
- :mod:`.store`: the steps (:func:`request_referral`, :func:`accept`, :func:`draft_summary`,
  :func:`send_summary`, :func:`arrive`, :func:`draft_return`, :func:`return_letter`);
- :mod:`.operations`: :func:`register_referral_operations`.
"""

from senhealth.telehealth.referrals.model import ReferralError, Step
from senhealth.telehealth.referrals.operations import (
    register_referral_operations,
    unregister_referral_operations,
)
from senhealth.telehealth.referrals.papers import Xml13, referral_xml13, signed_document
from senhealth.telehealth.referrals.store import (
    Referral,
    accept,
    arrive,
    draft_return,
    draft_summary,
    read_referral,
    request_referral,
    return_letter,
    send_summary,
)

__all__ = [
    "Referral",
    "ReferralError",
    "Step",
    "Xml13",
    "accept",
    "arrive",
    "draft_return",
    "draft_summary",
    "read_referral",
    "referral_xml13",
    "register_referral_operations",
    "request_referral",
    "return_letter",
    "send_summary",
    "signed_document",
    "unregister_referral_operations",
]
