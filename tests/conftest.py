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


# ----------------------------------------------------------------------------- official HiFi-GAN files

TINY_OFFICIAL_CONFIG = {  # the "tiny" preset (V3's shape, 32 channels) as an official config.json
    "resblock": "2", "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8],
    "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 5, 7],
    "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]], "num_mels": 80, "n_fft": 1024, "hop_size": 256,
    "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": 8000, "fmax_for_loss": None,
}


def official_state_of(generator, n_kernels: int):
    """An official-format state dict (old-style weight_g / weight_v, official names) of an audioup
    HiFiGAN, written out key by key here, independently of audioup.models.official."""
    import re

    out = {}
    for key, value in generator.state_dict().items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        key = re.sub(r"^upsamplers\.", "ups.", key)
        m = re.match(r"^mrfs\.(\d+)\.blocks\.(\d+)\.(.*)$", key)
        if m:
            key = f"resblocks.{int(m.group(1)) * n_kernels + int(m.group(2))}.{m.group(3)}"
        out[key] = value.clone()
    return out


@pytest.fixture
def official_tiny(tmp_path):
    """``(weights path, config path, generator)``: a random tiny HiFi-GAN written in the official
    format (random weight-norm gains too), with its config.json beside it."""
    import json

    from audioup.models import HiFiGAN, hifigan_preset

    torch.manual_seed(1)
    generator = HiFiGAN(**hifigan_preset("tiny"))
    with torch.no_grad():
        for name, p in generator.named_parameters():
            if name.endswith("original0"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.normal_(0, 0.05)
    folder = tmp_path / "official"
    folder.mkdir()
    torch.save({"generator": official_state_of(generator, 3)}, folder / "g_00100000")
    (folder / "config.json").write_text(json.dumps(TINY_OFFICIAL_CONFIG))
    return folder / "g_00100000", folder / "config.json", generator.eval()
