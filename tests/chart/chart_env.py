"""Where the chart is, the values sets the tests render, and `render` (shared by conftest and tests)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

from jntest.k8s import ROOT, helm, load_all

CHART = os.path.join(ROOT, "charts", "jumpnet-operator")
VALUES_DIR = os.path.join(os.path.dirname(__file__), "values")
# (name, helm arguments): the default values and each non-default set under values/
VALUE_SETS = {
    "default": [],
    "everything": ["-f", os.path.join(VALUES_DIR, "everything.yaml")],
    "namespaced": ["-f", os.path.join(VALUES_DIR, "namespaced.yaml")],
}
RELEASE, NAMESPACE = "jn", "jumpnet-system"


def render(*args: str) -> str:
    return helm("template", RELEASE, CHART, "--namespace", NAMESPACE, *args).stdout
