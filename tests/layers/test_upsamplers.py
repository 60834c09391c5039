"""Properties of the four upsampler kinds: lengths, fast == plain, ICNR, checkerboard."""
from __future__ import annotations

import itertools

import pytest
import torch

from audioup.layers import (ResizeConv1d, SubpixelConv1d, TransposedConv1d, build_upsampler,
                            interpolation_taps)
from audioup.layers.interp import apply_taps
from audioup.layers.transposed import transposed_padding

FACTORS = (1, 2, 3, 4, 5, 8)
LENGTHS = (1, 7, 64)
SPECS = [
    ("transposed", {}),
    ("resize", {"mode": "nearest"}),
    ("resize", {"mode": "linear"}),
    ("subpixel", {}),
    ("subpixel", {"icnr": True}),
    ("sinc", {}),
]


@pytest.mark.parametrize("kind,opts", SPECS, ids=lambda v: str(v))
def test_output_length_is_factor_times_input(kind, opts):
    for factor, length in itertools.product(FACTORS, LENGTHS):
        layer = build_upsampler(kind, 3, 2, factor, **opts)
        y = layer(torch.randn(2, 3, length))
        assert y.shape == (2, 2, factor * length), (kind, opts, factor, length)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("factor", FACTORS)
def test_transposed_length_exact_for_every_kernel(factor):
    for kernel in range(factor, 3 * factor + 2):
        layer = TransposedConv1d(2, 2, factor, kernel_size=kernel)
        assert layer(torch.randn(1, 2, 9)).shape[-1] == 9 * factor, (factor, kernel)
        padding, output_padding, _ = transposed_padding(factor, kernel)
        assert output_padding < factor and padding >= 0


@pytest.mark.parametrize("mode", ["nearest", "linear", "sinc"])
@pytest.mark.parametrize("pad_mode", ["replicate", "reflect", "zeros"])
def test_fast_resize_equals_plain_outputs_and_gradients(mode, pad_mode):
    for factor, length, kernel in [(1, 5, 3), (2, 40, 3), (3, 7, 4), (5, 33, 5), (8, 30, 9), (8, 64, 16), (4, 2, 7)]:
        layer = ResizeConv1d(3, 2, factor, kernel_size=kernel, mode=mode, pad_mode=pad_mode).double()
        layer.fast = True  # force the polyphase path even where the plain one is cheaper
        x = torch.randn(2, 3, length, dtype=torch.float64, requires_grad=True)
        g = torch.randn(2, 2, factor * length, dtype=torch.float64)
        y_fast = layer.forward_fast(x)
        grads_fast = torch.autograd.grad((y_fast * g).sum(), [x, layer.weight, layer.bias])
        y_plain = layer.forward_plain(x)
        grads_plain = torch.autograd.grad((y_plain * g).sum(), [x, layer.weight, layer.bias])
        torch.testing.assert_close(y_fast, y_plain, rtol=1e-10, atol=1e-10)
        for a, b in zip(grads_fast, grads_plain):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_fast_nearest_resize_is_a_transposed_conv_with_kernel_2f():
    # Folded, nearest resize with kernel <= factor + 1 is a transposed convolution with
    # HiFi-GAN's kernel length 2 * factor: the same multiply count, with tied taps.
    for factor in (2, 4, 8):
        layer = ResizeConv1d(4, 4, factor, mode="nearest")
        assert layer.fast and layer.transposed_len == 2 * factor
        assert layer.transposed_weight().shape == (4, 4, 2 * factor)


def test_icnr_subpixel_equals_nearest_resize_conv_at_init():
    factor, k = 4, 3
    sub = SubpixelConv1d(3, 2, factor, kernel_size=k, icnr=True).double()
    base_w = sub.weight.detach()[::factor]  # (C_out, C_in, k): every phase has the same kernel
    base_b = sub.bias.detach()[::factor]
    resize = ResizeConv1d(3, 2, factor, kernel_size=2 * factor + 1, mode="nearest").double()
    with torch.no_grad():
        resize.weight.zero_()
        resize.weight[:, :, ::factor] = base_w  # the low-rate kernel, dilated by the factor
        resize.bias.copy_(base_b)
    x = torch.randn(2, 3, 23, dtype=torch.float64)
    torch.testing.assert_close(sub(x), resize(x), rtol=1e-10, atol=1e-10)
    # ...and it is a nearest upsampling of a low-rate convolution: constant over each block.
    y = sub(x).reshape(2, 2, 23, factor)
    assert (y - y[..., :1]).abs().max() < 1e-12


def _interior_spread(y, margin):
    inner = y[..., margin:-margin]
    return (inner.max(dim=-1).values - inner.min(dim=-1).values).abs().max().item()


@pytest.mark.parametrize("kind,opts", [("resize", {"mode": "nearest"}), ("resize", {"mode": "linear"}),
                                       ("sinc", {}), ("subpixel", {"icnr": True})], ids=str)
@pytest.mark.parametrize("factor", [2, 3, 8])
def test_constant_input_gives_constant_output(kind, opts, factor):
    layer = build_upsampler(kind, 4, 3, factor, **opts).double()
    y = layer(torch.full((1, 4, 40), 0.7, dtype=torch.float64))
    assert _interior_spread(y, 16 * factor) < 1e-9


def test_transposed_uneven_overlap_repeats_with_period_factor():
    # Kernel 3, stride 2: outputs alternate between one and two kernel taps (the article's example).
    factor = 2
    layer = TransposedConv1d(1, 1, factor, kernel_size=3, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
    y = layer(torch.ones(1, 1, 20, dtype=torch.float64))[0, 0, 4:-4]
    assert torch.allclose(y[0::2], y[0]) and torch.allclose(y[1::2], y[1])
    assert {round(y[0].item()), round(y[1].item())} == {1, 2}
    # With random weights the pattern still repeats every `factor` samples and is not flat.
    layer = TransposedConv1d(2, 2, 3, kernel_size=7).double()
    y = layer(torch.ones(1, 2, 30, dtype=torch.float64))[..., 9:-9]
    torch.testing.assert_close(y[..., 3:], y[..., :-3])
    assert _interior_spread(y, 1) > 1e-3


def test_linear_taps_match_pytorch_interpolate():
    x = torch.randn(2, 3, 17, dtype=torch.float64)
    for factor in (1, 2, 3, 8):
        taps, offset = interpolation_taps("linear", factor)
        ref = torch.nn.functional.interpolate(x, scale_factor=factor, mode="linear", align_corners=False)
        torch.testing.assert_close(apply_taps(x, taps, offset), ref)


def test_sinc_interpolation_keeps_a_tone_and_suppresses_images():
    factor, n = 4, 512
    freq = 0.2  # cycles per input sample, below the input's Nyquist (0.5)
    t_in = torch.arange(n, dtype=torch.float64)
    x = torch.sin(2 * torch.pi * freq * t_in).reshape(1, 1, n)
    taps, offset = interpolation_taps("sinc", factor)
    u = apply_taps(x, taps, offset)[0, 0]
    # Output sample factor*m + r sits at input time m + (r + 0.5)/factor - 0.5.
    t_out = torch.arange(n * factor, dtype=torch.float64) / factor + (0.5 / factor - 0.5)
    ideal = torch.sin(2 * torch.pi * freq * t_out)
    inner = slice(64 * factor, -64 * factor)
    assert (u[inner] - ideal[inner]).abs().max() < 0.02
    spec = torch.fft.rfft(u[inner] * torch.hann_window(u[inner].numel(), dtype=torch.float64)).abs()
    freqs = torch.fft.rfftfreq(u[inner].numel()) * factor  # in cycles per input sample
    image = spec[freqs > 0.6].max() / spec.max()
    assert 20 * torch.log10(image) < -40
    # Nearest interpolation of the same tone leaves strong images: the contrast the kind exists for.
    nn_u = torch.nn.functional.interpolate(x, scale_factor=factor)[0, 0][inner]
    nn_spec = torch.fft.rfft(nn_u * torch.hann_window(nn_u.numel(), dtype=torch.float64)).abs()
    assert 20 * torch.log10(nn_spec[freqs > 0.6].max() / nn_spec.max()) > -20


def test_build_upsampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown upsampler kind 'deconv'"):
        build_upsampler("deconv", 2, 2, 2)
    with pytest.raises(ValueError, match="factor must be an integer >= 1"):
        build_upsampler("resize", 2, 2, 0)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        build_upsampler("subpixel", 0, 2, 2)
    with pytest.raises(ValueError, match="too short"):
        build_upsampler("transposed", 2, 2, 4, kernel_size=3)
    with pytest.raises(ValueError, match="does not take option"):
        build_upsampler("transposed", 2, 2, 4, icnr=True)
    with pytest.raises(ValueError, match="pad_mode"):
        build_upsampler("resize", 2, 2, 4, pad_mode="circular")
    with pytest.raises(ValueError, match="mode must be one of"):
        build_upsampler("resize", 2, 2, 4, mode="cubic")


def test_specs_and_aliases_build_the_same_layers():
    a = build_upsampler("resize-linear", 2, 3, 4)
    b = build_upsampler({"kind": "resize", "mode": "linear"}, 2, 3, 4)
    assert isinstance(a, ResizeConv1d) and a.mode == b.mode == "linear"
    c = build_upsampler("subpixel-icnr", 2, 3, 4, kernel_size=5)
    assert c.icnr and c.kernel_size == 5


def test_every_upsampler_has_an_int_kernel_size():
    """One layer API: ``kernel_size`` is an int for every kind (torch's ConvTranspose1d has a 1-tuple)."""
    from audioup.layers import UPSAMPLER_LABELS
    from audioup.layers.base import kernel_length

    for kind in UPSAMPLER_LABELS:
        layer = build_upsampler(kind, 3, 2, 4, kernel_size=9)
        assert type(layer.kernel_size) is int and layer.kernel_size == 9, kind
        assert kernel_length(layer) == 9
    t = TransposedConv1d(3, 2, factor=4, kernel_size=11)
    assert t.weight.shape[-1] == 11 and "kernel_size=11," in repr(t)
    assert t(torch.zeros(1, 3, 5)).shape[-1] == 20
    assert kernel_length(torch.nn.ConvTranspose1d(3, 2, 7, stride=4)) == 7
