"""The generator's level calibration runs once per new run: a resumed or ``init_from`` run
loads its weights and skips it; a folder left without a usable checkpoint starts exactly as
a fresh run (same calibration, same weights)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audioup.models import upsampling
from audioup.train.checkpoint import CheckpointError, checkpoint_path, list_checkpoints
from audioup.train.config import load_config
from audioup.train.loop import train

TINY = Path(__file__).resolve().parents[2] / "recipes" / "tiny.yaml"
# a kind the calibration rescales (transposed is left as drawn)
FAST = ["train.progress=false", "data.segment_length=1024", "train.validation_interval=1000",
        "train.checkpoint_interval=1", "train.keep_last=5", "model.upsampler=resize-nearest"]


def run(run_dir, *overrides, init_from=None) -> Path:
    return train(load_config(TINY, [f"run_dir={run_dir}", *FAST, *overrides]), init_from=init_from,
                 log=lambda *_: None)


def saved(run_dir, step: int) -> dict:
    return torch.load(checkpoint_path(run_dir, step), map_location="cpu", weights_only=True)


def assert_same_models(a: dict, b: dict) -> None:
    for part in ("generator", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)


@pytest.fixture
def calibrations(monkeypatch) -> list:
    """Every call of the level calibration, counted (it still runs)."""
    calls = []
    real = upsampling.match_output_levels_

    def counted(*args, **kwargs):
        calls.append(args[0].upsampler_label)
        return real(*args, **kwargs)

    monkeypatch.setattr(upsampling, "match_output_levels_", counted)
    return calls


def test_resume_and_init_from_skip_the_calibration_and_resume_stays_exact(tmp_path, calibrations):
    run(tmp_path / "a", "max_steps=1")
    assert calibrations == ["resize-nearest"]
    run(tmp_path / "a", "max_steps=2")  # resumes from step 1
    assert len(calibrations) == 1
    # the resumed run is the uninterrupted one, bit for bit
    run(tmp_path / "whole", "max_steps=2")
    assert len(calibrations) == 2
    assert_same_models(saved(tmp_path / "a", 2), saved(tmp_path / "whole", 2))

    # init_from: the weights are the source's (a negligible lr keeps them), no calibration
    run(tmp_path / "tuned", "max_steps=1", "optim.lr=1e-30", init_from=tmp_path / "a")
    assert len(calibrations) == 2
    tuned, source = saved(tmp_path / "tuned", 1)["generator"], saved(tmp_path / "a", 2)["generator"]
    assert all(torch.allclose(tuned[k], source[k], atol=1e-20, rtol=0) for k in source)


def test_a_folder_whose_checkpoints_were_all_corrupt_starts_exactly_as_a_fresh_run(tmp_path, calibrations):
    run(tmp_path / "fresh", "max_steps=1")
    assert len(calibrations) == 1

    broken = tmp_path / "broken"
    for step in (1, 2):
        path = checkpoint_path(broken, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        run(broken, "max_steps=1")  # refused, before any model is built; both renamed .corrupt
    assert len(calibrations) == 1 and not list_checkpoints(broken)

    run(broken, "max_steps=1")  # nothing usable left: a new run, calibrated as the fresh one
    assert len(calibrations) == 2
    assert_same_models(saved(broken, 1), saved(tmp_path / "fresh", 1))
    assert sorted(p.name for p in checkpoint_path(broken, 1).parent.glob("*.corrupt")) == \
        ["ckpt_00000001.pt.corrupt", "ckpt_00000002.pt.corrupt"]


def test_a_generator_built_for_loading_draws_what_a_calibrated_one_draws():
    """The trainer builds a resumed run's generator without calibration: the discriminators,
    drawn next from the global RNG, must be the same as in the run that was saved."""
    from audioup.models.registry import build_generator_from, generator_config

    config = generator_config("hifigan", "tiny", {}, "resize-nearest", sample_rate=22050, n_mels=80)
    torch.manual_seed(3)
    calibrated = build_generator_from(config)
    assert upsampling.calibrate_levels_(calibrated) != [1.0, 1.0, 1.0]
    after_calibrated = torch.rand(4)
    torch.manual_seed(3)
    skipped = build_generator_from(config)
    assert skipped.level_scales == [1.0, 1.0, 1.0]
    after_skipped = torch.rand(4)
    assert torch.equal(after_calibrated, after_skipped)
    assert calibrated.state_dict().keys() == skipped.state_dict().keys()
    # only the upsamplers' weights differ (the gain matching's rescaling); everything else is the same draw
    differ = {k for k, v in calibrated.state_dict().items() if not torch.equal(v, skipped.state_dict()[k])}
    assert differ and all(k.startswith("upsamplers.") and ".parametrizations.weight." in k for k in differ)
