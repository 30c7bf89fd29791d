"""Clinical documents on paper: the Ministry's form layout as PDF, signed (PAdES), printed copies with the
conversion marking, the print log, and what the public verification page shows (docs/printing.md).

- :mod:`.layout` / :mod:`.render`: a document Bundle as the printed form (HTML, then PDF with WeasyPrint);
- :mod:`.pades`: PAdES B-T / B-LT signatures (pyHanko) with a :class:`~senhealth.emr.pki.keys.SigningKey`;
- :mod:`.pdf_operation`: ``Composition/[id]/$pdf`` (``print=true`` for a printed copy),
  :func:`register_printing_operations`;
- :mod:`.print_log`: the print log (``emr_print``) and the print's audit event;
- :mod:`.copy_verification`: :func:`verify_copy`, the data of ``/verify/{code}``.
"""

from senhealth.emr.printing.copy_verification import CopyVerification, verify_copy
from senhealth.emr.printing.pdf_operation import register_printing_operations, unregister_printing_operations

__all__ = [
    "CopyVerification",
    "register_printing_operations",
    "unregister_printing_operations",
    "verify_copy",
]
