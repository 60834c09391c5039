"""Matrix form reproduces the layer; frequency view shows lines, images and the low-pass."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from audioup.analysis import frequency_response, layer_matrix
from audioup.layers import build_upsampler

SPECS = [("transposed", {"kernel_size": 3}, 2), ("transposed", {}, 4), ("resize-nearest", {}, 3),
         ("resize-linear", {}, 4), ("subpixel", {}, 2), ("subpixel-icnr", {}, 4), ("sinc", {}, 2)]


@pytest.mark.parametrize("spec,opts,factor", SPECS)
def test_full_matrix_reproduces_layer(spec, opts, factor):
    torch.manual_seed(0)
    layer = build_upsampler(spec, 3, 2, factor, **opts)
    m = layer_matrix(layer, length=10, in_channel=None, out_channel=None)
    assert m.matrix.shape == (2 * 10 * factor, 3 * 10)
    x = torch.randn(4, 3, 10)
    torch.testing.assert_close(m.apply(x), layer(x).double(), atol=1e-5, rtol=1e-5)


def test_pair_matrix_is_a_block_of_the_full_one():
    torch.manual_seed(1)
    layer = build_upsampler("resize-linear", 3, 2, 2)
    full = layer_matrix(layer, length=8, in_channel=None, out_channel=None).matrix
    pair = layer_matrix(layer, length=8, in_channel=2, out_channel=1).matrix
    torch.testing.assert_close(pair, full[16:32, 16:24])
    with pytest.raises(ValueError, match="in_channel"):
        layer_matrix(layer, in_channel=5, out_channel=0)


def test_plain_conv_transpose_matrix():
    torch.manual_seed(2)
    conv = nn.ConvTranspose1d(2, 2, 5, stride=2, padding=1)
    m = layer_matrix(conv, length=7, in_channel=None, out_channel=None)
    x = torch.randn(3, 2, 7)
    torch.testing.assert_close(m.apply(x), conv(x).double(), atol=1e-5, rtol=1e-5)


def test_row_sums_tell_checkerboard_from_tied_weights():
    torch.manual_seed(0)
    transposed = layer_matrix(build_upsampler("transposed", 1, 1, 2, kernel_size=3), length=16)
    sums = transposed.phase_row_sums()
    assert abs(sums[0] - sums[1]) > 1e-3
    for spec in ("resize-nearest", "resize-linear", "subpixel-icnr"):
        s = layer_matrix(build_upsampler(spec, 1, 1, 4), length=16).phase_row_sums()
        assert max(s) - min(s) < 1e-9, spec
    icnr = layer_matrix(build_upsampler("subpixel-icnr", 1, 1, 4), length=16)
    assert icnr.distinct_row_patterns() == 1
    assert layer_matrix(build_upsampler("subpixel", 1, 1, 4), length=16).distinct_row_patterns() == 4


def test_frequency_view_lines_images_lowpass():
    torch.manual_seed(0)
    transposed = frequency_response(build_upsampler("transposed", 4, 3, 4), length=2048)
    nearest = frequency_response(build_upsampler("resize-nearest", 4, 3, 4), length=2048)
    linear = frequency_response(build_upsampler("resize-linear", 4, 3, 4), length=2048)
    sinc = frequency_response(build_upsampler("sinc", 4, 3, 4), length=2048)
    assert [t.freq for t in transposed.tones] == [1.0, 2.0]
    assert min(t.prominence_db for t in transposed.tones) > 15  # periodic pattern -> lines at k * sr_in
    assert max(t.prominence_db for t in nearest.tones) < 0  # nearest has nulls there
    # interpolators attenuate the images, the better the interpolator the more
    assert sinc.sweep_image_db < linear.sweep_image_db < nearest.sweep_image_db < transposed.sweep_image_db
    assert sinc.sweep_image_db < -30
    assert linear.passband_tilt_db < -3  # linear's sinc^2 droops towards the input Nyquist
    assert transposed.freqs[-1] == pytest.approx(2.0)  # output Nyquist in input-rate units
    t, f, s = linear.sweep
    assert s.shape == (len(f), len(t)) and s.max() == pytest.approx(0.0)
