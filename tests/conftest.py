"""Fixtures: the shared data read in place, seeding. Without `../shared` beside the clone the
run stops at once with one line naming the path: the parity and corpus tests are never skipped
quietly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import CORPUS, GOLDEN, SHARED

NEEDED = [GOLDEN / "genelive" / "expected.npz", GOLDEN / "stytr2" / "expected.npz", CORPUS]


def pytest_configure(config):
    missing = [path for path in NEEDED if not path.exists()]
    if missing:
        raise pytest.UsageError(
            f"the tests read the golden fixtures and the chart corpus from {SHARED}, and "
            f"{missing[0]} is missing: clone the project's shared folder beside this one"
        )


@pytest.fixture(scope="session")
def golden_genelive() -> Path:
    return GOLDEN / "genelive"


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
