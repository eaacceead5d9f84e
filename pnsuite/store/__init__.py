"""Results store: every run's results in one database (SQLite file or PostgreSQL), queried
by board, JetPack and build (`open_store`, `ResultsStore`)."""

from pnsuite.store.errors import StoreError
from pnsuite.store.results_store import ResultsStore, open_store, redacted

__all__ = ["ResultsStore", "StoreError", "open_store", "redacted"]
