"""Projection of trained transposed kernels onto resize layers: least-squares optimum, exact on
tied kernels, the nearest case is exactly "equal polyphase sums", lengths kept, bad layers refused."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from audioup.layers import TransposedConv1d, build_upsampler, replace_upsamplers
from audioup.layers.project import project_layer

T_IN = 40  # input samples of the impulse probes: interior far from both edges


def _impulse_response(layer: nn.Module, factor: int, span: int) -> torch.Tensor:
    """Output taps ``y[factor * m0 + tau]`` for ``tau`` in ``[-span, span)`` of a unit impulse at ``m0``
    (single channel in and out): the layer's effective kernel, measured, not computed."""
    m0 = T_IN // 2
    x = torch.zeros(1, 1, T_IN, dtype=torch.float64)
    x[0, 0, m0] = 1.0
    with torch.no_grad():
        y = layer(x)[0, 0]
        if getattr(layer, "bias", None) is not None:
            y = y - layer.bias[0]
    return y[factor * m0 - span: factor * m0 + span]


def _new_layer(kind: str, factor: int) -> nn.Module:
    return build_upsampler(kind, 1, 1, factor).double()


@pytest.mark.parametrize("kind,factor", [("resize-nearest", 8), ("resize-nearest", 3), ("resize-linear", 4),
                                         ("sinc", 2)])
def test_projection_is_the_least_squares_optimum(kind, factor):
    span = 16 * factor
    old = TransposedConv1d(1, 1, factor, kernel_size=2 * factor + 1).double()
    with torch.no_grad():
        old.weight.normal_()
        old.bias.zero_()
    target = _impulse_response(old, factor, span)
    new = _new_layer(kind, factor)
    with torch.no_grad():
        new.bias.zero_()
    # the design matrix, measured: the response to each one-hot weight
    columns = []
    for j in range(new.weight.shape[-1]):
        with torch.no_grad():
            new.weight.zero_()
            new.weight[0, 0, j] = 1.0
        columns.append(_impulse_response(new, factor, span))
    design = torch.stack(columns, dim=1)
    expected = torch.linalg.lstsq(design, target.unsqueeze(1)).solution[:, 0]
    projection = project_layer(old, new)
    torch.testing.assert_close(new.weight[0, 0], expected, rtol=1e-6, atol=1e-9)
    residual = target - design @ expected
    assert projection.residual_energy == pytest.approx(float(residual.pow(2).sum() / target.pow(2).sum()),
                                                       rel=1e-6)
    assert 0.0 < projection.residual_energy < 1.0


@pytest.mark.parametrize("kind,factor", [("resize-nearest", 8), ("resize-linear", 2), ("resize-nearest", 5)])
def test_a_tied_kernel_is_kept_exactly(kind, factor):
    torch.manual_seed(3)
    tied = build_upsampler(kind, 3, 2, factor).double()
    kernel = tied.transposed_weight().detach()
    start = tied.transposed_padding - factor * tied.low_pad[0]
    old = nn.ConvTranspose1d(3, 2, kernel.shape[-1], stride=factor, padding=start).double()
    with torch.no_grad():
        old.weight.copy_(kernel)
        old.bias.copy_(tied.bias)
    new = torch.nn.utils.parametrizations.weight_norm(build_upsampler(kind, 3, 2, factor).double())
    projection = project_layer(old, new)
    assert projection.residual_energy < 1e-20
    torch.testing.assert_close(new.weight, tied.weight, rtol=1e-9, atol=1e-12)
    x = torch.randn(2, 3, 30, dtype=torch.float64)
    with torch.no_grad():
        a, b = new(x), old(x)
    edge = 2 * factor
    torch.testing.assert_close(a[..., edge:-edge], b[..., edge:b.shape[-1] - (b.shape[-1] - a.shape[-1]) - edge])


def test_nearest_keeps_exactly_the_kernels_with_equal_polyphase_sums():
    """HiFi-GAN's 2f-tap kernel: the nearest projection drops exactly the phase-sum ripple (the checkerboard)."""
    factor = 8
    old = TransposedConv1d(4, 4, factor, kernel_size=2 * factor).double()
    with torch.no_grad():
        w = torch.randn(4, 4, 2 * factor, dtype=torch.float64)
        phases = w.view(4, 4, 2, factor)
        sums = phases.sum(dim=2, keepdim=True)  # (4, 4, 1, factor): one sum per phase
        phases -= (sums - sums.mean(dim=-1, keepdim=True)) / 2  # equalise the phase sums
        old.weight.copy_(w)
    assert project_layer(old, _new(4, factor)).residual_energy < 1e-20
    with torch.no_grad():
        old.weight[0, 0, 3] += 1.0  # break one phase's sum
    assert project_layer(old, _new(4, factor)).residual_energy > 1e-3


def _new(channels, factor):
    return build_upsampler("resize-nearest", channels, channels, factor).double()


def test_project_on_a_model_keeps_lengths_and_reports_each_layer():
    from audioup.models import HiFiGAN, hifigan_preset

    model = HiFiGAN(**hifigan_preset("tiny")).eval()
    mel = torch.randn(1, 80, 5)
    before = model(mel)
    swaps = replace_upsamplers(model, "resize-nearest", init="project")
    assert [s.name for s in swaps] == ["upsamplers.0", "upsamplers.1", "upsamplers.2"]
    assert all(0 < s.residual_energy < 1 for s in swaps)
    assert model(mel).shape == before.shape


def test_bad_layers_and_options_raise():
    model = nn.Sequential(nn.ConvTranspose1d(2, 2, 4, stride=2, dilation=2))
    with pytest.raises(ValueError, match="dilated \\(dilation=2\\)"):
        replace_upsamplers(model, "resize-nearest")
    assert isinstance(model[0], nn.ConvTranspose1d)  # nothing replaced
    ok = nn.Sequential(nn.ConvTranspose1d(2, 2, 4, stride=2, padding=1), nn.ConvTranspose1d(2, 2, 4, stride=2))
    with pytest.raises(ValueError, match="no folded"):  # a kind without a folded form
        project_layer(ok[0], nn.Conv1d(2, 2, 3))
    with pytest.raises(ValueError, match="init must be"):
        replace_upsamplers(ok, "resize-nearest", init="copy")


def test_alias_and_contradicting_option_raise():
    with pytest.raises(ValueError, match="'resize-linear' means mode='linear'.*mode='nearest'"):
        build_upsampler("resize-linear", 4, 4, 2, mode="nearest")
    with pytest.raises(ValueError, match="contradicts"):
        build_upsampler({"kind": "subpixel-icnr", "icnr": False}, 4, 4, 2)
    assert build_upsampler("resize-linear", 4, 4, 2, mode="linear").mode == "linear"  # agreeing is fine
    assert build_upsampler({"kind": "resize", "mode": "linear"}, 4, 4, 2, mode="nearest").mode == "nearest"


def test_sinc_says_it_runs_the_plain_path():
    layer = build_upsampler("sinc", 4, 4, 8)
    assert layer.fast is False and "fast=False" in repr(layer)
    assert build_upsampler("resize-nearest", 4, 4, 8).fast is True


@pytest.mark.parametrize("factor,kernel", [(2, 4), (8, 16), (4, 8)])
def test_subpixel_projection_is_exact_untied_and_line_free_with_icnr(factor, kernel):
    """Plain sub-pixel can make any transposed kernel that fits (residual 0, same interior output);
    ICNR-tied it keeps the phases equal, so a constant input gives a constant output."""
    from audioup.layers.project import project_layer
    from audioup.layers.subpixel import SubpixelConv1d
    from audioup.layers.transposed import TransposedConv1d

    torch.manual_seed(0)
    old = TransposedConv1d(6, 5, factor, kernel_size=kernel)
    x = torch.randn(2, 6, 40)
    edge = 3 * factor  # the edges see padding of another kind
    untied = SubpixelConv1d(6, 5, factor, kernel_size=3, pad_mode="zeros")
    assert project_layer(old, untied).residual_energy < 1e-12
    torch.testing.assert_close(untied(x)[..., edge:-edge], old(x)[..., edge:-edge], atol=1e-5, rtol=1e-5)
    tied = SubpixelConv1d(6, 5, factor, kernel_size=3, icnr=True)
    assert 0.2 < project_layer(old, tied).residual_energy < 1
    flat = tied(torch.ones(1, 6, 40))[..., edge:-edge]
    assert float(flat.std(dim=-1).max()) < 1e-5 and float(old(torch.ones(1, 6, 40))[..., edge:-edge].std(-1).max()) > 1e-3
