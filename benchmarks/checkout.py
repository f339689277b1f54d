"""Imported first by the benchmark scripts: this checkout's ``paxos_redis`` wins, whatever
the cwd, for the script and for every process it starts (PYTHONPATH)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO),
                                                         os.environ.get("PYTHONPATH")]))
