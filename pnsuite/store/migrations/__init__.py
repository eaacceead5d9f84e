"""Alembic migrations of the results store (run by `ResultsStore.migrate`, never by hand)."""
