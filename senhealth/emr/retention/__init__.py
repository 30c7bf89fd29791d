"""Retention of medical records: rules per document type, legal holds, the purge and its report
(docs/retention.md).

- :mod:`.rules`: the retention rules as data (Circular 33/2025, unverified) and :func:`classify`;
- :mod:`.scan`: one document's retention status (rule, episode end, holds, decision);
- :mod:`.hold`: legal holds (place, release, list; table ``emr_legal_hold``);
- :mod:`.purge`: the purge, refusing what is under retention or on hold; audited;
- :mod:`.report`: what becomes destroyable, by year, type and facility;
- :mod:`.tasks`: the background task ``emr.retention_purge``.
"""
