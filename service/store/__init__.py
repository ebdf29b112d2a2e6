"""The complaint store: every analysed message as a row people can filter, count and work through.

- ``tables``: the tables (SQLAlchemy Core); ``migrate`` + ``migrations/``: the Alembic schema;
- ``rows``: an answer -> a row, with the personal-data rules; ``writer``: batched idempotent upserts;
- ``queries``: lists, keyset pages, stats, status; ``escalation``: waiting-time sweep; ``retention``;
- ``runtime``: the store a process holds (lazy open, background sweep).
"""
