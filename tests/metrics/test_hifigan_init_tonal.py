"""Pons et al. (ICASSP 2021) at initialisation: transposed and sub-pixel generators ring, nearest resize does not.

A randomly initialised generator of HiFi-GAN V1 shape (the real V1: factors 8, 8, 2, 2,
512 channels, 13.9M parameters) is fed the log-mel of one second of the bundled speech.
"""
import pytest
import torch

from audioup.audio import MelSpectrogram
from audioup.metrics import tonal_score
from audioup.models import HiFiGAN, hifigan_preset

SR = 22050


@pytest.fixture(scope="module")
def mel(speech_22k):
    x = torch.from_numpy(speech_22k[0][SR // 2: SR // 2 + 256 * 86])  # about 1 s of speech
    return MelSpectrogram(SR)(x[None])


def _score(kind, mel, seed=0):
    torch.manual_seed(seed)
    gen = HiFiGAN(**{**hifigan_preset("v1"), "upsampler": kind}).eval()
    assert tuple(gen.upsample_factors) == (8, 8, 2, 2)
    if kind == "transposed":  # the real V1, not a shrunken stand-in
        assert 13.5e6 < sum(p.numel() for p in gen.parameters()) < 14.5e6
    with torch.no_grad():
        wav = gen(mel)[0, 0].numpy()
    return tonal_score(wav, SR, factors=(8, 8, 2, 2))


def test_v1_at_init_transposed_and_subpixel_score_15_db_above_nearest_resize(mel):
    nearest = _score("resize-nearest", mel).tonal_score_db
    for kind in ("transposed", "subpixel"):
        s = _score(kind, mel)
        assert s.tonal_score_db >= nearest + 15, kind
        # the comb is found blind at the generator's hop, and not mistaken for a note (the sub-pixel
        # comb's strongest lines fell on multiples of 430.66 Hz = 5 x 86.13: "a held note", no hop)
        assert s.estimated_hop == 256 and not s.warnings, (kind, s.warnings)
