"""Per-kind initialisation: every upsampler starts with a transposed layer's white-noise gain."""
import math

import pytest
import torch

from audioup.models.upsampling import (build_upsampling_stack, transposed_rms, white_noise_rms)

KINDS = ["transposed", "resize-nearest", "resize-linear", "subpixel-icnr", "sinc"]
CHANNELS, FACTORS, KERNELS = [64, 32, 16, 8], [8, 8, 4], [16, 16, 8]


@pytest.mark.parametrize("kind", KINDS)
def test_matched_gain_equals_transposed(kind):
    torch.manual_seed(0)
    stack = build_upsampling_stack(kind, CHANNELS, FACTORS, KERNELS, use_weight_norm=False)
    for layer, c_in, s, k in zip(stack, CHANNELS, FACTORS, KERNELS):
        measured = white_noise_rms(layer, c_in, seed=7)  # other noise than the one it was matched on
        # transposed itself is not rescaled: its draw lands within sampling error of the expectation
        tol = 0.15 if kind == "transposed" else 0.05
        assert measured == pytest.approx(transposed_rms(c_in, s, k), rel=tol)


def test_hifigan_init_differs_and_rng_is_untouched():
    torch.manual_seed(0)
    plain = build_upsampling_stack("resize-nearest", CHANNELS, FACTORS, KERNELS, use_weight_norm=False,
                                   init="hifigan")
    after_plain = torch.rand(3)
    torch.manual_seed(0)
    matched = build_upsampling_stack("resize-nearest", CHANNELS, FACTORS, KERNELS, use_weight_norm=False)
    after_matched = torch.rand(3)
    assert torch.equal(after_plain, after_matched)  # the gain measurement draws from its own generator
    ratio = white_noise_rms(plain[0], CHANNELS[0]) / transposed_rms(CHANNELS[0], FACTORS[0], KERNELS[0])
    assert abs(20 * math.log10(ratio)) > 3  # nearest resize + 16-tap conv is louder than transposed
    # the matched layer is the same draw, only scaled
    w0, w1 = plain[0].weight.flatten(), matched[0].weight.flatten()
    assert torch.allclose(w1 / w0, (w1 / w0)[0].expand_as(w0), rtol=1e-4)
    with pytest.raises(ValueError, match="init must be one of"):
        build_upsampling_stack("sinc", CHANNELS, FACTORS, KERNELS, init="xavier")
