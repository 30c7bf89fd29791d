"""Database schema migrations: ``NNNN_name.sql`` files applied in order by :mod:`senhealth.core.migrate`.

Rules: never edit a file once it has been applied anywhere (its checksum is recorded and checked); add
a new, higher-numbered file instead. Each file runs in one transaction with the connection's
``search_path``, so write table names unqualified. See docs/database.md.
"""
