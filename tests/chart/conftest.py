"""Fixtures for the chart and deploy/ checks: rendered manifests for each values set."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from chart_env import VALUE_SETS, render  # noqa: E402
from jntest.k8s import load_all  # noqa: E402


@pytest.fixture(scope="session", params=sorted(VALUE_SETS))
def rendered(request, tmp_path_factory):
    """(values-set name, path of the rendered YAML, parsed documents) for every values set."""
    text = render(*VALUE_SETS[request.param])
    path = tmp_path_factory.mktemp("render") / f"{request.param}.yaml"
    path.write_text(text)
    return request.param, str(path), load_all(text)


@pytest.fixture(scope="session")
def default_docs():
    return load_all(render())


@pytest.fixture(scope="session")
def everything_docs():
    return load_all(render(*VALUE_SETS["everything"]))


@pytest.fixture(scope="session")
def namespaced_docs():
    return load_all(render(*VALUE_SETS["namespaced"]))
