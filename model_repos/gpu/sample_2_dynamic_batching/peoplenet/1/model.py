"""Entry point for Triton's python backend: the PeopleNet-sized GPU stand-in with random
weights, NOT PeopleNet (see pnsuite/models/gpu_standin.py)."""

from pnsuite.models.gpu_standin import TritonPythonModel  # noqa: F401
