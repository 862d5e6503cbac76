"""Fixtures: the shared data read in place (skipped with a reason when absent), seeding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import CORPUS, GOLDEN


@pytest.fixture(scope="session")
def golden_genelive() -> Path:
    path = GOLDEN / "genelive"
    if not (path / "expected.npz").is_file():
        pytest.skip(f"golden fixture {path} not present (filled by the project; see its README)")
    return path


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"chart corpus {CORPUS} not present")
    return CORPUS


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
