"""Overlap patterns and the checkerboard score against their analytic values."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from audioup.analysis import checkerboard_score, layer_overlap, overlap_pattern, stack_overlap
from audioup.layers import build_upsampler


def test_kernel3_stride2_alternates_1_2():
    pattern = overlap_pattern(3, 2)
    assert pattern.coverage == [2.0, 1.0]
    assert not pattern.even and pattern.ratio == pytest.approx(2.0)


@pytest.mark.parametrize("k,s", [(4, 2), (2, 2), (8, 4), (16, 8), (6, 3)])
def test_kernel_multiple_of_stride_is_even(k, s):
    pattern = overlap_pattern(k, s)
    assert pattern.even
    assert pattern.coverage == [k / s] * s


@pytest.mark.parametrize("k,s", [(3, 2), (5, 2), (5, 3), (7, 4), (11, 5)])
def test_coverage_counts_match_formula_and_total(k, s):
    pattern = overlap_pattern(k, s)
    assert pattern.coverage == [float(-(-(k - r) // s)) for r in range(s)]
    assert sum(pattern.coverage) == k  # every tap lands somewhere once per period


def test_stack_multiplies_patterns():
    pattern = stack_overlap([(3, 2), (3, 2)])
    assert pattern.period == 4
    assert sum(pattern.coverage) == 9
    assert pattern.coverage == [3.0, 2.0, 3.0, 1.0]
    assert stack_overlap([(4, 2), (4, 2)]).even


def test_measured_overlap_of_layers():
    layer = build_upsampler("transposed", 3, 2, 2, kernel_size=3)
    assert layer_overlap(layer).coverage == overlap_pattern(3, 2, padding=layer.padding[0]).coverage
    plain = nn.ConvTranspose1d(3, 2, 5, stride=3)
    assert layer_overlap(plain).coverage == overlap_pattern(5, 3).coverage
    for spec in ("resize-nearest", "resize-linear", "subpixel", "sinc"):
        assert layer_overlap(build_upsampler(spec, 3, 2, 4)).even, spec


def test_bad_overlap_arguments():
    with pytest.raises(ValueError, match="stride"):
        overlap_pattern(3, 0)
    with pytest.raises(ValueError, match="not an upsampling layer"):
        layer_overlap(nn.Conv1d(2, 2, 3))


@pytest.mark.parametrize("spec", ["resize-nearest", "subpixel-icnr", "resize-linear", "sinc"])
@pytest.mark.parametrize("factor", [2, 3, 8])
def test_flat_kinds_below_minus_60_db(spec, factor):
    for seed in range(3):
        torch.manual_seed(seed)
        score = checkerboard_score(build_upsampler(spec, 4, 3, factor))
        assert score.checkerboard_db < -60, (spec, factor, seed, score.checkerboard_db)
        assert max(score.per_channel_db) < -60
        assert len(score.per_channel_db) == 3


def test_transposed_kernel3_stride2_is_clearly_periodic():
    for seed in range(5):
        torch.manual_seed(seed)
        score = checkerboard_score(build_upsampler("transposed", 4, 4, 2, kernel_size=3))
        assert score.checkerboard_db > -20, (seed, score.checkerboard_db)
        assert score.residual_db < -200  # the window saw no edge: output exactly periodic


def test_all_ones_transposed_analytic_value():
    # coverage 2, 1: mean 1.5, periodic part +-0.5 -> 0.25 / 2.25
    conv = nn.ConvTranspose1d(3, 2, 3, stride=2, bias=False)
    nn.init.ones_(conv.weight)
    score = checkerboard_score(conv)
    assert score.checkerboard_db == pytest.approx(10 * math.log10(0.25 / 2.25), abs=1e-9)
    assert sorted(score.profile[0]) == pytest.approx([3.0, 6.0])


def test_score_is_scale_invariant_and_layer_untouched():
    torch.manual_seed(0)
    layer = nn.utils.parametrizations.weight_norm(build_upsampler("subpixel", 4, 3, 4, bias=False))
    before = [p.detach().clone() for p in layer.parameters()]
    a = checkerboard_score(layer, value=1.0)
    b = checkerboard_score(layer, value=-7.5)
    assert a.checkerboard_db == pytest.approx(b.checkerboard_db, abs=1e-6)
    assert a.checkerboard_db > -30  # random subpixel phases differ
    # the probe copy must not break the (weight-normed) original
    assert all(torch.equal(p, q) for p, q in zip(before, layer.parameters()))
    assert layer(torch.ones(1, 4, 8)).shape == (1, 3, 32)


def test_bias_only_layer_scores_at_floor():
    layer = build_upsampler("transposed", 2, 2, 2, kernel_size=3)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.fill_(0.3)
    assert checkerboard_score(layer).checkerboard_db <= -299


def test_nearest_resize_overlap_is_the_stack_it_is():
    layer = build_upsampler("resize-nearest", 2, 2, 4)
    measured = layer_overlap(layer)
    assert measured.layers == [(4, 4), (layer.kernel_size, 1)]
    assert stack_overlap(measured.layers).coverage == measured.coverage == [float(layer.kernel_size)] * 4
