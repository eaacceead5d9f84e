"""A copy of a model repository whose model is slower by a fraction the gate cannot see
(pnsuite.repository.slowed); used by collect.py and gpu/run_gpu_validation.sh's gate part.

    python benchmarks/gate_decisions/slowed_repo.py REPO DEST FRACTION
"""

from __future__ import annotations

import sys
from pathlib import Path

from pnsuite.repository.slowed import write_slowed

__all__ = ["write_slowed"]

if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    print(write_slowed(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])))
