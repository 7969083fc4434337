"""Everything that overrides eventsourcing or reads its tables with SQL.

- `application`: `EventLog`, the eventsourcing application, configured.
- `mapper`: events to stored bytes and back (cattrs, orjson, upcasting).
- `sqlite`: the SQLite factory, pool and process recorder.
- `postgres`: the PostgreSQL process recorder (COPY).
- `connect`: the ledger's own PostgreSQL connections (schema, setup lock).
- `bulk`: one statement loading many records (snapshots + events).
- `log`: reading ranges of the log's rows by topic, for the views.

`tests/test_upstream_signatures.py` pins the signature of every upstream
method overridden or called here, so an eventsourcing upgrade that changes
one fails a test instead of the ledger.
"""
