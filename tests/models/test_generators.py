"""Generators: lengths for every upsampler kind and hop, paper parameter counts, weight norm, errors."""
from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from audioup.layers import ResizeConv1d, SincConv1d, SubpixelConv1d, TransposedConv1d
from audioup.models import BigVGAN, HiFiGAN, bigvgan_preset, build_generator, hifigan_preset

KINDS = ["transposed", "resize-nearest", "resize-linear", "subpixel", "subpixel-icnr", "sinc"]
LAYER_CLASS = {"transposed": TransposedConv1d, "resize-nearest": ResizeConv1d, "resize-linear": ResizeConv1d,
               "subpixel": SubpixelConv1d, "subpixel-icnr": SubpixelConv1d, "sinc": SincConv1d}
# (sample rate, factors): 22.05 kHz hop 256, 16 kHz hop 200, 24 kHz hop 300 (a factor of 3).
HOPS = [(22050, (8, 8, 4)), (16000, (5, 5, 4, 2)), (24000, (5, 5, 3, 4))]


def tiny(name: str, kind: str, sample_rate: int, factors) -> torch.nn.Module:
    common = dict(upsampler=kind, sample_rate=sample_rate, upsample_factors=factors, n_mels=20,
                  upsample_kernel_sizes=None, upsample_initial_channel=16)
    if name == "hifigan-1":
        return HiFiGAN(resblock="1", resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3), (1, 3)), **common)
    if name == "hifigan-2":
        return HiFiGAN(resblock="2", resblock_kernel_sizes=(3,), resblock_dilations=((1, 2),), **common)
    return BigVGAN(resblock_kernel_sizes=(3,), resblock_dilations=((1, 3),), **common)


GENERATORS = ["hifigan-1", "hifigan-2", "bigvgan"]
# Every generator x every kind; the hop rotates so that each kind meets all three hops.
CASES = [(name, kind, *HOPS[(i + j) % len(HOPS)]) for i, name in enumerate(GENERATORS) for j, kind in enumerate(KINDS)]


@pytest.mark.parametrize("name,kind,sample_rate,factors", CASES)
def test_length_forward_backward(name, kind, sample_rate, factors):
    g = tiny(name, kind, sample_rate, factors)
    hop = 1
    for f in factors:
        hop *= f
    assert g.hop_length == hop and g.sample_rate == sample_rate
    assert [u.factor for u in g.upsamplers] == list(factors)
    assert all(isinstance(u, LAYER_CLASS[kind]) for u in g.upsamplers)
    mel = torch.randn(2, 20, 3)
    wav = g(mel)
    assert wav.shape == (2, 1, hop * 3)
    assert wav.abs().max() <= 1.0 and torch.isfinite(wav).all()
    (wav ** 2).mean().backward()
    for i, up in enumerate(g.upsamplers):
        grad = up.parametrizations.weight.original1.grad  # weight norm's direction v
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, f"layer {i}"


# The paper's counts (Kong et al. 2020, Table 1) are without weight norm's per-channel gains.
@pytest.mark.parametrize("preset,paper", [("v1", 13.92e6), ("v2", 0.92e6), ("v3", 1.46e6)])
def test_transposed_parameter_counts_match_paper(preset, paper):
    g = build_generator("hifigan", preset=preset)
    with_gains = sum(p.numel() for p in g.parameters())
    g.remove_weight_norm()
    plain = sum(p.numel() for p in g.parameters())
    assert plain < with_gains
    assert abs(plain - paper) / paper < 0.01, plain
    assert plain >= paper  # the paper rounds down (13.926M, 0.926M, 1.463M)


def test_transposed_uses_config_kernels_and_other_kinds_their_own():
    g = build_generator("hifigan", preset="v2")
    assert [u.kernel_size for u in g.upsamplers] == [16, 16, 4, 4]
    assert [u.padding[0] for u in g.upsamplers] == [4, 4, 1, 1]  # HiFi-GAN's (k - u) // 2
    from audioup.layers.resize import default_resize_kernel
    for mode in ("nearest", "linear"):
        r = build_generator("hifigan", preset="tiny", upsampler=f"resize-{mode}")
        assert r.upsamplers[0].mode == mode
        assert [u.kernel_size for u in r.upsamplers] == [default_resize_kernel(f, mode) for f in r.upsample_factors]
    assert [u.kernel_size for u in build_generator("hifigan", preset="tiny", upsampler="resize").upsamplers] == [9, 9, 5]
    s = build_generator("hifigan", preset="tiny", upsampler={"kind": "subpixel", "kernel_size": 5})
    assert [u.kernel_size for u in s.upsamplers] == [5, 5, 5]
    assert build_generator("hifigan", preset="tiny", upsampler=None).upsampler_spec == "transposed"


def test_every_upsampler_is_weight_normed_and_removal_keeps_output():
    for kind in KINDS:
        g = build_generator("hifigan", preset="tiny", upsampler=kind).eval()
        assert all(parametrize.is_parametrized(u, "weight") for u in g.upsamplers)
        mel = torch.randn(1, 80, 4)
        with torch.no_grad():
            before = g(mel)
            g.remove_weight_norm()
            after = g(mel)
        assert not any(parametrize.is_parametrized(m) for m in g.modules())
        torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


def test_icnr_starts_phase_equal():
    g = build_generator("hifigan", preset="tiny", upsampler="subpixel-icnr")
    up = g.upsamplers[0]
    with torch.no_grad():
        y = up(torch.randn(1, up.in_channels, 6))
    phases = y.view(1, up.out_channels, 6, up.factor)
    torch.testing.assert_close(phases, phases[..., :1].expand_as(phases))
    # Same N(0, 0.01) draw as every other kind (before the level matching of upsampling.py).
    plain = build_generator("hifigan", preset="tiny", upsampler="subpixel-icnr", upsampler_init="hifigan")
    assert 0.005 < float(plain.upsamplers[0].weight.detach().std()) < 0.02


def test_batched_equals_per_item():
    g = build_generator("bigvgan", preset="tiny", upsampler="resize-nearest").eval()
    mel = torch.randn(3, 80, 4)
    with torch.no_grad():
        batched = g(mel)
        single = torch.cat([g(mel[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


def test_presets_and_build_generator():
    v3 = hifigan_preset("v3")
    assert v3["upsample_factors"] == (8, 8, 4) and v3["resblock"] == "2"
    v3["upsample_factors"] = (2,)  # a copy: the preset table is untouched
    assert hifigan_preset("v3")["upsample_factors"] == (8, 8, 4)
    g = build_generator("hifigan", preset="tiny", n_mels=64, upsampler="sinc")
    assert g.n_mels == 64 and g.hop_length == 256 and g.upsampler_label == "sinc"
    b = build_generator("bigvgan", preset="base")
    assert (b.n_mels, b.sample_rate, b.hop_length) == (100, 24000, 256)
    assert bigvgan_preset("tiny")["upsample_factors"] == (8, 8, 4)


@pytest.mark.parametrize("call,message", [
    (lambda: build_generator("wavenet"), "unknown generator"),
    (lambda: build_generator("hifigan", preset="v9"), "unknown HiFi-GAN preset"),
    (lambda: build_generator("hifigan", preset="tiny", colour="red"), "bad arguments"),
    (lambda: build_generator("hifigan", preset="tiny", upsampler="bicubic"), "unknown upsampler kind"),
    (lambda: HiFiGAN(upsample_factors=(5, 5, 4, 2), upsample_kernel_sizes=(16, 16, 4)), "one entry per factor"),
    (lambda: HiFiGAN(upsample_factors=()), "non-empty"),
    (lambda: HiFiGAN(resblock="3"), "resblock"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_mel_shape_is_named():
    g = build_generator("hifigan", preset="tiny")
    with pytest.raises(ValueError, match=r"HiFiGAN expects a mel of shape \(B, 80, frames\)"):
        g(torch.randn(1, 64, 5))
    with pytest.raises(ValueError, match="expects a mel"):
        g(torch.randn(80, 5))
