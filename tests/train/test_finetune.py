"""Fine-tuning from official and converted checkpoints: on-the-fly conversion, a frozen generator
during the discriminator warm-up, the GPU script's CPU smoke run (``audioup convert``: tests/compare/test_conversion.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TINY_D = "model.discriminator_kwargs={mpd: {channels: [8, 16, 32, 64, 64]}, msd: {width: 0.0625}}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audioup.data.corpus import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"), variants=2, n_val=1, progress=False)


def _config(tmp_path, corpus, upsampler, *extra):
    from audioup.train.config import load_config

    kind = {"nearest": "resize-nearest", "linear": "resize-linear"}.get(upsampler, upsampler)
    return load_config(REPO / "recipes" / "finetune" / "hifigan_universal.yaml", [
        f"model.upsampler={kind}", f"run_dir={tmp_path / 'run'}", "model.preset=tiny", TINY_D, "max_steps=2", "train.batch_size=1",
        "data.segment_length=2048", f"data.filelist={corpus.filelists['train']}",
        f"data.valid_files=[{corpus.filelists['val']}]", "data.valid_seconds=0.5", "train.device=cpu",
        "train.progress=false", "train.checkpoint_interval=1", "train.validation_interval=100",
        "train.keep_last=5", "train.threads=1", *extra])


def test_init_from_official_converts_and_warmup_freezes_the_generator(official_tiny, corpus, tmp_path):
    from audioup.models.checkpoint import read_generator
    from audioup.models.convert import convert_generator
    from audioup.train.loop import train

    weights, _, _ = official_tiny
    cfg = _config(tmp_path, corpus, "nearest", f"init_from={weights}", "train.discriminator_warmup=1")
    lines = []
    run_dir = Path(train(cfg, log=lines.append))
    assert any("converted" in line and "residual energy per layer" in line for line in lines), lines
    _, expected, _ = convert_generator(read_generator(weights), "resize-nearest")
    step1 = torch.load(run_dir / "checkpoints" / "ckpt_00000001.pt", weights_only=True)
    step2 = torch.load(run_dir / "checkpoints" / "ckpt_00000002.pt", weights_only=True)
    for key, value in expected.items():  # warm-up step: the generator is exactly the projected one
        torch.testing.assert_close(step1["generator"][key], value, rtol=0, atol=0)
    assert any(not torch.equal(step1["discriminator"][k], v) for k, v in step2["discriminator"].items())
    assert any(not torch.equal(step2["generator"][k], v) for k, v in expected.items())  # then it trains
    assert step2["generator_config"]["kwargs"]["upsampler"] == "resize-nearest"


def test_init_from_refuses_another_architecture(official_tiny, corpus, tmp_path):
    from audioup.train.loop import TrainingError, train

    weights, _, _ = official_tiny
    cfg = _config(tmp_path, corpus, "transposed", f"init_from={weights}", "model.kwargs={upsample_initial_channel: 64}")
    with pytest.raises(TrainingError, match="differs from the config's .* in more than the upsampler"):
        train(cfg, log=lambda *_: None)


@pytest.mark.slow
def test_gpu_finetune_script_smoke_on_cpu(official_tiny, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_finetune", REPO / "recipes" / "gpu_finetune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights, _, _ = official_tiny
    code = module.main(["--device", "cpu", "--steps", "2", "--warmup", "1", "--batch-size", "1",
                        "--segment-length", "2048", "--kinds", "resize-nearest", "transposed",
                        "--checkpoint", str(weights), "--out", str(tmp_path / "runs"),
                        "--corpus", str(tmp_path / "corpus"), "model.preset=tiny", TINY_D,
                        "data.valid_seconds=0.5", "train.threads=1"])
    assert code == 0
    table = capsys.readouterr().out
    for row in ("pretrained (transposed) | 0", "resize-nearest, projected | 0", "resize-nearest, fine-tuned | 2",
                "transposed, fine-tuned | 2"):
        assert row in table


@pytest.mark.parametrize("kind", ["resize-nearest", "resize-linear", "transposed"])
def test_finetune_recipe_kinds_differ_from_the_family_only_in_the_upsampler(kind):
    from audioup.train.config import load_config, to_dict

    recipe = REPO / "recipes" / "finetune" / "hifigan_universal.yaml"
    cfg = to_dict(load_config(recipe, [f"model.upsampler={kind}"], for_run=False))
    family = to_dict(load_config(recipe, for_run=False))
    assert cfg["model"].pop("upsampler") == kind and family["model"].pop("upsampler") == "transposed"
    assert cfg == family
    assert cfg["init_from"] == "pretrained:hifigan-universal" and cfg["train"]["discriminator_warmup"] > 0


