"""The insurance claim XML (Decisions 130/4750/3176 of the Ministry of Health), both ways.

See docs/claims.md. Modules: :mod:`.tables` and :mod:`.field_rules` (the field tables and what is read
from them; data in ``data/``, made by :mod:`.derive_tables`), :mod:`.validate` (field-by-field checks),
:mod:`.xml_tables` (one table as XML), :mod:`.envelope` (the signed ``GIAMDINHHS`` file),
:mod:`.export` with :mod:`.export_mapping` (an Encounter as a claim), :mod:`.importer` with
:mod:`.import_mapping` and :mod:`.patient_match` (a claim file into FHIR resources), :mod:`.fhir_terms`
(systems and conversions), :mod:`.operations` (``$claim-xml``, ``$import-claim-xml``), :mod:`.synthetic`
(generated files for tests and benchmarks).
"""
