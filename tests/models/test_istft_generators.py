"""The iSTFT generators: lengths and gradients, the registry's rules, the Vocos reference's
numbers on shared weights, ONNX export, and the frame-rate comb the measure must find."""
from __future__ import annotations

import math
import warnings

import pytest
import torch

from audioup.audio import MelSpectrogram
from audioup.audio.mel import padded_stft
from audioup.metrics import tonal_score
from audioup.models import ISTFTNet, Vocos, build_generator, calibrate_levels_, istftnet_preset, vocos_preset
from audioup.models.registry import build_generator_from, generator_config

SR = 22050


def _tiny(name, **kwargs):
    torch.manual_seed(0)
    return build_generator(name, "tiny", **kwargs)


@pytest.mark.parametrize("name,kwargs", [("vocos", {}), ("istftnet", {}), ("istftnet", {"upsampler": "resize-linear"})])
def test_length_schedule_and_gradients(name, kwargs):
    g = _tiny(name, **kwargs)
    assert g.hop_length == math.prod(g.upsample_factors) == 256
    wav = g(torch.randn(2, 80, 7))
    assert wav.shape == (2, 1, 7 * 256) and torch.isfinite(wav).all()
    wav.pow(2).mean().backward()
    no_grad = [n for n, p in g.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not no_grad, no_grad


def test_schedules_put_the_istft_hop_last():
    assert Vocos(**vocos_preset("base")).upsample_factors == (256,)
    net = ISTFTNet(**istftnet_preset("v1"), upsampler_init="hifigan")
    assert net.upsample_factors == (8, 8, 4) and len(net.upsamplers) == 2
    assert Vocos(hop_length=300, n_fft=1200).upsample_factors == (300,)  # 24 kHz-style hop


def test_level_calibration_runs_on_the_shorter_trunk():
    """iSTFTNet with an interpolating trunk: the transposed twins match its 2 layers, not 3."""
    g = _tiny("istftnet", upsampler="resize-linear")
    scales = calibrate_levels_(g)
    assert scales == g.level_scales and len(scales) == 2 and all(s > 0 for s in scales) and scales != [1.0, 1.0]


def test_registry_refuses_an_upsampler_for_vocos_and_rebuilds_it():
    with pytest.raises(ValueError, match="no upsampling layers to choose"):
        generator_config("vocos", "tiny", upsampler="resize-linear")
    spec = generator_config("vocos", "tiny", sample_rate=SR, n_mels=80)
    torch.manual_seed(0)
    a = build_generator_from(spec)
    b = build_generator_from(spec)  # what loading a checkpoint does
    b.load_state_dict(a.state_dict())
    mel = torch.randn(1, 80, 5)
    torch.testing.assert_close(a(mel), b(mel))


def test_vocos_base_is_the_reference_network():
    """Given the reference implementation's weights, the output is the reference's (same size, same math)."""
    pytest.importorskip("vocos")
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    torch.manual_seed(0)
    backbone, head = VocosBackbone(80, 512, 1536, 8), ISTFTHead(512, 1024, 256, padding="same")
    ours = Vocos(**vocos_preset("base")).eval()
    theirs = {**{f"backbone.{k}": v for k, v in backbone.state_dict().items()},
              **{f"head.{k}": v for k, v in head.state_dict().items()}}
    rename = {"backbone.convnext.": "blocks.", "backbone.final_layer_norm.": "final_norm.",
              "backbone.": "", "head.out.": "head."}
    state = {}
    for key, value in theirs.items():
        if key.startswith("head.istft"):
            continue
        for old, new in rename.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        state[key] = value
    ours.load_state_dict(state)
    assert sum(p.numel() for p in ours.parameters()) == \
        sum(p.numel() for p in (*backbone.parameters(), *head.parameters()))
    mel = torch.randn(1, 80, 20)
    with torch.no_grad():
        ref = head(backbone(mel))
        torch.testing.assert_close(ours(mel)[:, 0], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["vocos", "istftnet"])
def test_onnx_export_of_the_whole_generator(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    g = _tiny(name).remove_weight_norm().eval()
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(g, (torch.randn(1, 80, 16),), str(path), input_names=["mel"], output_names=["wav"],
                          dynamic_axes={"mel": {0: "batch", 2: "frames"}}, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (16, 5, 40):
        mel = torch.randn(2, 80, frames) - 4.0
        (wav,) = session.run(None, {"mel": mel.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(wav), g(mel), rtol=0, atol=1e-4)


def _with_frame_comb(wav: torch.Tensor, istft, level: float) -> torch.Tensor:
    """``wav`` through the generator's own inverse STFT with one fixed spectrum added to every
    frame: the output is ``wav`` plus a signal periodic in the hop (the frame-rate comb)."""
    spec = padded_stft(wav[None], istft.n_fft, istft.hop_length, torch.hann_window(istft.n_fft))
    gen = torch.Generator().manual_seed(0)
    comb = torch.polar(torch.ones(spec.shape[1]), 2 * math.pi * torch.rand(spec.shape[1], generator=gen))
    rms = wav.pow(2).mean().sqrt()
    comb_rms = istft(comb.real[None, :, None].expand(1, -1, 8), comb.imag[None, :, None].expand(1, -1, 8)).std()
    spec = spec + (level * rms / comb_rms) * comb[None, :, None]
    return istft(spec.real, spec.imag)[0]


@pytest.mark.parametrize("name", ["vocos", "istftnet"])
def test_measure_finds_a_comb_at_the_istft_frame_rate(name, speech_22k):
    """A comb at 1/30 of the speech's RMS, made by the model's iSTFT, stands out on the model's schedule."""
    g = _tiny(name)
    factors = g.upsample_factors
    x = torch.from_numpy(speech_22k[0][:256 * 180].copy())
    clean = tonal_score(_with_frame_comb(x, g.istft, 0.0).numpy(), SR, factors=factors)
    combed = tonal_score(_with_frame_comb(x, g.istft, 1 / 30).numpy(), SR, factors=factors)
    assert clean.tonal_score_db < 3.0
    last = f"layer{len(factors)}"  # the iSTFT's stage: lines at multiples of sr / its hop
    assert combed.per_layer[last]["mean_db"] > clean.per_layer[last]["mean_db"] + 10, combed.per_layer
    if name == "vocos":
        assert combed.tonal_score_db > clean.tonal_score_db + 6 and combed.estimated_hop == 256


def test_vocos_at_initialisation_rings_at_the_frame_rate(speech_22k):
    """A mel that barely changes from frame to frame gives nearly the same spectrum, phases included,
    every frame: the random network's output is close to periodic in the hop (the 'buzz' of Vocos)."""
    g = _tiny("vocos").eval()
    x = torch.from_numpy(speech_22k[0][:256 * 180].copy())
    with torch.no_grad():
        wav = g(MelSpectrogram(SR)(x[None]))[0, 0]
    score = tonal_score(wav.numpy(), SR, factors=g.upsample_factors)
    assert score.tonal_score_db > 15 and score.estimated_hop == 256
