"""Server-side model code that model_repos/*/model.py import (the stand-ins).

Kept free of imports here: the python backend stub imports one module of it, and the GPU
stand-in needs torch, which the CPU stand-in does not.
"""
