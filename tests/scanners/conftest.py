"""Shared fixtures of the scanner tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CORPUS = Path(__file__).parents[2].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)
