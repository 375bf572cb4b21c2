"""bulletin-qa retrieval: issue files in, quoted and attributed passages out."""

import os

# OpenMP threads spin by default while they wait for a core; on a 2-core server with
# another process busy, a query then took 990 ms instead of 23 ms. Set before torch or
# FAISS load their OpenMP runtime, which reads it once.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
