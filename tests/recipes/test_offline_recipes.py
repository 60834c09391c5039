"""recipes/offline: V1 and V2 families on the offline corpus, a 44.1 kHz music recipe, and a step trains."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
OFFLINE = REPO / "recipes" / "offline"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_family_reads_the_offline_corpus_with_its_preset(version):
    """Kinds are model.upsampler overrides of each family (checked for every family in
    test_recipe_configs.py); here: the preset and the data the offline families read."""
    from audioup.train.config import load_config, to_dict

    base = to_dict(load_config(OFFLINE / f"hifigan_{version}.yaml", for_run=False))
    assert base["model"]["preset"] == version and base["model"]["upsampler"] == "transposed"
    assert Path(base["data"]["filelist"]) == (REPO / "data" / "offline" / "speech" / "train.txt").resolve()


def test_music_recipe_builds_a_44k_generator_with_its_hop():
    from audioup.train.config import load_config
    from audioup.train.setup import build_generator_from, generator_config

    torch.set_num_threads(1)
    cfg = load_config(OFFLINE / "music_hifigan_v1.yaml", ["model.preset=v2"], for_run=False)
    g = build_generator_from(generator_config(cfg))
    assert (g.sample_rate, g.hop_length, cfg.mel.hop_length) == (44100, 512, 512)
    assert Path(cfg.data.filelist) == (REPO / "data" / "offline" / "music" / "train.txt").resolve()


def test_tiny_offline_recipe_trains_one_step_on_a_filelist(tmp_path):
    from audioup.data.corpus import build_corpus
    from audioup.train.config import load_config
    from audioup.train.loop import train

    torch.set_num_threads(1)
    corpus = build_corpus(tmp_path / "corpus", variants=2, n_val=1, progress=False)
    cfg = load_config(OFFLINE / "hifigan_v2.yaml", [
        "model.upsampler=sinc", f"run_dir={tmp_path / 'run'}", "model.preset=tiny", "max_steps=1", "train.batch_size=2",
        "data.segment_length=2048", "data.valid_seconds=0.5", "data.num_workers=0", "train.device=cpu",
        "train.progress=false", "train.checkpoint_interval=1", "train.validation_interval=1",
        f"data.filelist={corpus.filelists['train']}", f"data.valid_files=[{corpus.filelists['val']}]"])
    cfg.model.discriminator_kwargs = {"mpd": {"channels": [8, 16, 32, 64, 64]}, "msd": {"width": 0.0625}}
    run_dir = train(cfg, log=lambda line: None)
    state = torch.load(Path(run_dir) / "checkpoints" / "ckpt_00000001.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 1 and state["generator_config"]["kwargs"]["upsampler"] == "sinc"
