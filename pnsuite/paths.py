"""Where the project's files are: the checkout the suite runs from.

The suite is installed in editable mode from a checkout (`./suite` does it), so these
point into that checkout: the model repositories, and the golden images and detections
that live with the pytest fixtures in `fixtures/golden/`.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODEL_REPOS = PROJECT_ROOT / "model_repos"
EMBEDDED_REPOS = MODEL_REPOS / "embedded"
GOLDEN_DIR = PROJECT_ROOT / "fixtures" / "golden"
GOLDEN_IMAGES = GOLDEN_DIR / "images"
GOLDEN_DETECTIONS = GOLDEN_DIR / "detections"
#: The image of the Triton Jetson example's demos; every perf load sends it.
CAPTURE_IMAGE = GOLDEN_IMAGES / "capture.jpg"
