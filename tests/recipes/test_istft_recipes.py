"""The iSTFT generators' recipes: they differ from HiFi-GAN V1 only in the model, train a step on CPU,
load for inference with their own schedule, and take their place in ``audioup compare``."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"
FULL = [RECIPES / d / f"{name}.yaml" for d in ("offline", "ljspeech") for name in ("vocos", "istftnet")]
PARAMS = {"vocos": 13.46e6, "istftnet": 13.26e6}  # with weight norm's gains (iSTFTNet)


def _dict(path, *overrides):
    from audioup.train.config import load_config, to_dict

    return to_dict(load_config(path, overrides, for_run=False))


@pytest.mark.parametrize("path", FULL, ids=lambda p: p.relative_to(RECIPES).as_posix())
def test_full_recipe_is_hifigan_v1_with_another_generator(path):
    from audioup.train.config import load_config
    from audioup.train.setup import build_generator_from, generator_config

    torch.set_num_threads(1)
    mine, v1 = _dict(path), _dict(path.with_name("hifigan_v1.yaml"))
    for key in ("generator", "preset", "upsampler"):
        mine["model"].pop(key), v1["model"].pop(key)
    assert mine == v1  # data, mel, discriminators, losses, optimiser, loop: all the same
    cfg = load_config(path, for_run=False)
    g = build_generator_from(generator_config(cfg))
    assert g.hop_length == cfg.mel.hop_length == 256 and g.n_mels == cfg.mel.n_mels
    assert sum(p.numel() for p in g.parameters()) == pytest.approx(PARAMS[cfg.model.generator], rel=0.01)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from audioup.data.corpus import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"), variants=2, n_val=1, progress=False)


@pytest.mark.parametrize("generator,factors", [("vocos", (256,)), ("istftnet", (8, 8, 4))])
def test_tiny_recipe_trains_and_vocodes_with_its_schedule(generator, factors, tiny_corpus, tmp_path):
    from audioup.compare.evaluate import evaluate_vocoder
    from audioup.evaluation import load_clips
    from audioup.data.dataset import collect_files
    from audioup.inference import load_generator
    from audioup.train.config import load_config
    from audioup.train.loop import train

    torch.set_num_threads(1)
    cfg = load_config(RECIPES / "tiny_istft.yaml", [
        f"model.generator={generator}", f"run_dir={tmp_path / 'run'}", "max_steps=1", "train.progress=false",
        "train.checkpoint_interval=1", "train.validation_interval=1", "data.valid_seconds=0.5",
        "data.files=[]", f"data.filelist={tiny_corpus.filelists['train']}",
        f"data.valid_files=[{tiny_corpus.filelists['val']}]"])
    lines = []
    run_dir = train(cfg, log=lines.append)
    assert any("val/tonal_score_db" in line for line in lines), lines
    vocoder = load_generator(run_dir)
    assert vocoder.step == 1 and tuple(vocoder.generator.upsample_factors) == factors
    clips = load_clips(collect_files([tiny_corpus.filelists["test"]]), cfg.sample_rate,
                       min_seconds=4096 / cfg.sample_rate, log=lambda *_: None)[:1]
    record = evaluate_vocoder(vocoder, clips, pesq=False, periodicity=False)
    layers = record["per_layer"]
    assert [v["factor"] for v in layers.values()] == list(factors)
    # the last stage (the iSTFT) repeats every istft hop: its lines every sample_rate / hop Hz
    assert list(layers.values())[-1]["input_rate_hz"] == pytest.approx(cfg.sample_rate / factors[-1])


def test_compare_puts_the_istft_generators_beside_the_upsampler_kinds(tiny_corpus, tmp_path):
    from audioup.compare import compare_upsamplers

    torch.set_num_threads(1)
    overrides = ["data.files=[]", f"data.filelist={tiny_corpus.filelists['train']}",
                 f"data.valid_files=[{tiny_corpus.filelists['val']}]"]
    comp = compare_upsamplers(RECIPES / "tiny.yaml", tmp_path / "cmp", kinds=["vocos", "transposed", "istftnet"],
                              trained=False, overrides=overrides, test_files=[tiny_corpus.filelists["test"]],
                              max_test_files=1, pesq=False, periodicity=False, log=lambda *_: None)
    assert comp.kinds == ["transposed", "vocos", "istftnet"]
    params = {k: comp.results[0][k]["params"] for k in comp.kinds}
    assert params["vocos"] > params["transposed"]  # the tiny Vocos: 154k
    assert [v["factor"] for v in comp.results[0]["vocos"]["per_layer"].values()] == [256]
    assert comp.reference["factors"] == [8, 8, 4]  # the recipe's own generator
    text = comp.report.read_text()
    assert "| vocos |" in text and "| istftnet |" in text
    assert "`vocos` preset `tiny`, upsampling 256 (the last: an inverse STFT)" in text
    assert set(comp.speed) == {"transposed", "vocos", "istftnet"}
