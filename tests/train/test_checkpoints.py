"""Checkpoint files: weights_only loading, keep-last-N, corrupt-file fallback, random state."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from audioup.train.checkpoint import (FORMAT, VERSION, CheckpointError, checkpoint_path,
                                      list_checkpoints, load_newest, prune_checkpoints,
                                      resolve_checkpoint, rng_state, save_checkpoint, set_rng_state)


def payload(step: int) -> dict:
    return {"format": FORMAT, "version": VERSION, "step": step, "sample_rate": 22050, "mel": {},
            "generator_config": {"name": "hifigan", "kwargs": {"upsample_factors": [8, 8, 4]}},
            "generator": {"w": torch.full((3,), float(step))}, "rng": rng_state()}


def test_keep_last_and_weights_only(tmp_path):
    for step in (2, 4, 6, 8):
        save_checkpoint(payload(step), checkpoint_path(tmp_path, step))
        prune_checkpoints(tmp_path, keep_last=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [6, 8]
    data = torch.load(checkpoint_path(tmp_path, 8), weights_only=True)
    assert data["step"] == 8 and torch.equal(data["generator"]["w"], torch.full((3,), 8.0))
    assert resolve_checkpoint(tmp_path) == checkpoint_path(tmp_path, 8)
    assert not list(tmp_path.glob("checkpoints/*.tmp"))  # no temporary files left behind


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_corrupt_newest_falls_back_with_a_message(tmp_path, damage):
    for step in (2, 4):
        save_checkpoint(payload(step), checkpoint_path(tmp_path, step))
    newest = checkpoint_path(tmp_path, 4)
    raw = newest.read_bytes()
    newest.write_bytes({"truncate": raw[: len(raw) // 2], "empty": b"", "garbage": b"not a zip"}[damage])
    messages = []
    data = load_newest(tmp_path, log=messages.append)
    assert data["step"] == 2
    assert len(messages) == 1 and str(newest) in messages[0] and "falling back" in messages[0]


def test_no_usable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    save_checkpoint({"format": "something else"}, checkpoint_path(tmp_path, 3))
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        load_newest(tmp_path, log=lambda *_: None)
    assert load_newest(tmp_path / "empty-run") is None


def test_random_state_round_trip_through_a_file(tmp_path):
    save_checkpoint({"rng": rng_state()}, tmp_path / "r.pt")
    expected = (torch.rand(4), np.random.rand(3), random.random())
    set_rng_state(torch.load(tmp_path / "r.pt", weights_only=True)["rng"])
    got = (torch.rand(4), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0])
    np.testing.assert_array_equal(expected[1], got[1])
    assert expected[2] == got[2]
