"""Entry point for Triton's python backend: the PeopleNet stand-in (see pnsuite/models/standin.py)."""

from pnsuite.models.standin import TritonPythonModel  # noqa: F401
