"""Hexad: a local-first coding agent that lives inside a language server."""

import os

# One BLAS thread unless the user says otherwise: Hexad's matrix products (the workspace
# embedding's SVD, vector search) are small, and BLAS worker threads spinning against
# Hexad's own threads and processes made training ~5x slower on a busy 2-core machine.
# It must be set before numpy is first imported, hence here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
