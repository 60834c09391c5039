"""A tiny trained run shared by the vocode and mel tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from audioup.train import load_config, train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A tiny generator trained for one step through the Python API (hop 256, 80 mel bands)."""
    run = tmp_path_factory.mktemp("vocoder-run")
    cfg = load_config(REPO / "recipes" / "tiny.yaml",
                      [f"run_dir={run}", "max_steps=1", "train.progress=false", "data.segment_length=1024"])
    train(cfg, log=lambda *_: None)
    return run
