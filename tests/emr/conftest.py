"""Puts tests/emr on the import path, for the shared helper ``emr_pki_support``."""

from __future__ import annotations

import sys
from pathlib import Path

_EMR = str(Path(__file__).resolve().parent.parent)
if _EMR not in sys.path:
    sys.path.insert(0, _EMR)
