"""Shared fixtures: the bundled CMU ARCTIC speech, at its own rate and at 22.05 kHz."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
ARCTIC_DIR = REPO / "data" / "cmu_arctic"
ARCTIC_FILES = sorted(ARCTIC_DIR.glob("*.wav"))


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    # More torch threads than the 2 shared cores can serve made the suite ~10x slower under load.
    torch.set_num_threads(1)
    yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def arctic_files():
    """Paths of the two bundled 16 kHz utterances."""
    assert len(ARCTIC_FILES) == 2, f"expected two WAVs in {ARCTIC_DIR}"
    return list(ARCTIC_FILES)


@pytest.fixture(scope="session")
def speech_22k(arctic_files):
    """The two utterances resampled to 22.05 kHz: list of float32 numpy arrays."""
    from audioup.audio import load_audio

    return [load_audio(p, sample_rate=22050).samples for p in arctic_files]
