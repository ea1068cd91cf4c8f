"""The v2 archive: v2 notifications kept as rows of the database a v2 listener wrote
(``ingest --from v2-sql``) or of a CSV dump of it (``ingest --from v2-csv``).

``source`` reads a table or query from any SQLAlchemy URL, streaming, read-only, in the order of
a unique key so that a killed import resumes after its last commit; ``keys`` keeps that resume
point in the ledger. The rows become events through ``adapters.v2_rows``.
"""
