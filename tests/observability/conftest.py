"""tests/observability: the helpers beside the tests are importable (promql, known_metrics)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
