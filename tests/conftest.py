"""Shared test set-up: small thread counts (the CI machine has 2 cores) and a fixed seed."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
