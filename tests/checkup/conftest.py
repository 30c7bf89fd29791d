"""Puts tests/checkup on the import path, for the helpers the check-up test folders share
(``checkup_record_support``)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
