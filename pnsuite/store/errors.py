"""The results store's error: what went wrong with the store, and what to do."""

from pnsuite.errors import SuiteError

URL_HINT = (
    "give a file path (SQLite, created if missing) or a database URL such as "
    "postgresql://user@host:5432/dbname (password from ~/.pgpass or PGPASSWORD)"
)
WRITE_HINT = (
    "check that the store is reachable and writable (disk space, the database "
    "user's rights); the run stays in pytest-benchmark's storage meanwhile"
)


class StoreError(SuiteError):
    """The store cannot be opened, migrated, written or read."""

    default_hint = URL_HINT
