"""The Upsampler contract: every kind says what its forward costs and which strided transposed
convolution it computes, and code that asks (``audioup layers``' cost column) works for a new kind
that only subclasses :class:`Upsampler` and is registered."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from audioup.commands.layers import multiplies_per_input_sample
from audioup.layers import UPSAMPLER_KINDS, UPSAMPLER_LABELS, Upsampler, build_upsampler
from audioup.layers.base import check_args, init_conv_, set_weight_, weight_norm
from audioup.layers.project import project_layer

CASES = [(label, {}) for label in UPSAMPLER_LABELS] + [
    ("resize-nearest", {"fast": False}), ("resize-linear", {"fast": False}),
    ("subpixel", {"pad_mode": "zeros", "kernel_size": 4}), ("transposed", {"kernel_size": 11}),
]


def folded_output(x: Tensor, kernel: Tensor, start: int, factor: int) -> Tensor:
    """What the folded form computes: input sample ``n``'s tap ``t`` lands on ``factor * n + t - start``."""
    full = F.conv_transpose1d(x, kernel, None, factor)  # full[factor * n + t]
    length = factor * x.shape[-1]
    left, right = max(0, -start), max(0, start + length - full.shape[-1])
    return F.pad(full, (left, right))[..., start + left:start + left + length]


@pytest.mark.parametrize("factor", [2, 3, 8])
@pytest.mark.parametrize("label,options", CASES, ids=lambda v: str(v))
def test_folded_kernel_computes_the_forward_away_from_the_edges(label, options, factor):
    torch.manual_seed(factor)
    layer = build_upsampler(label, 3, 2, factor, bias=False, **options).double()  # the kernel is the linear part
    assert isinstance(layer, Upsampler)
    assert (layer.in_channels, layer.out_channels, layer.factor) == (3, 2, factor)
    assert isinstance(layer.kernel_size, int)
    kernel, start = layer.folded_kernel()
    assert kernel.shape[:2] == (3, 2)
    margin = kernel.shape[-1] // factor + layer.kernel_size + 8  # input samples the edge handling reaches
    x = torch.randn(2, 3, 3 * margin, dtype=torch.float64)
    with torch.no_grad():
        y, folded = layer(x), folded_output(x, kernel, start, factor)
    inner = slice(factor * margin, factor * 2 * margin)
    assert y[..., inner].abs().max() > 0.1
    torch.testing.assert_close(folded[..., inner], y[..., inner], rtol=0, atol=1e-10)


@pytest.mark.parametrize("label,options", CASES, ids=lambda v: str(v))
def test_folded_basis_maps_free_weights_to_the_folded_kernel(label, options):
    torch.manual_seed(5)
    layer = build_upsampler(label, 3, 2, 4, bias=False, **options).double()
    basis, start = layer.folded_basis()
    free = torch.randn(3, 2, basis.shape[0], dtype=torch.float64)
    set_weight_(layer, layer.weight_from_free(free))
    kernel, kernel_start = layer.folded_kernel()
    assert kernel_start == start
    torch.testing.assert_close(kernel, free @ basis, rtol=0, atol=1e-12)


@pytest.mark.parametrize("label", ["transposed", "resize-linear", "subpixel"])
def test_folded_kernel_follows_weight_norm_and_training(label):
    torch.manual_seed(0)
    layer = weight_norm(build_upsampler(label, 3, 2, 4, bias=False)).double()
    with torch.no_grad():
        layer.parametrizations.weight.original0.mul_(1.7)  # the gain a training step would change
    kernel, start = layer.folded_kernel()
    x = torch.randn(1, 3, 60, dtype=torch.float64)
    with torch.no_grad():
        y, folded = layer(x), folded_output(x, kernel, start, 4)
    torch.testing.assert_close(folded[..., 80:160], y[..., 80:160], rtol=0, atol=1e-10)
    kernel.sum().backward()  # the folded kernel is differentiable in the layer's parameters
    assert layer.parametrizations.weight.original1.grad.abs().sum() > 0


@pytest.mark.parametrize("label,options", [(label, {}) for label in UPSAMPLER_LABELS]
                         + [("resize-nearest", {"fast": False})], ids=lambda v: str(v))
def test_macs_match_the_counted_convolutions(label, options):
    """Against torch's FLOP counter on a long input (edges and the folded kernel's matmul are <3 %)."""
    layer = build_upsampler(label, 6, 4, 3, **options)
    length = 2000
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layer(torch.randn(1, 6, length))
    counted = counter.get_total_flops() / 2 / length
    macs = layer.macs_per_input_sample()
    assert multiplies_per_input_sample(layer) == macs
    if getattr(layer, "fast", True) or layer.mode == "sinc":
        assert abs(counted - macs) / macs < 0.03, (counted, macs)
    else:  # nearest's plain path interpolates by indexing, which the counter does not see: 1 tap per output
        assert counted == pytest.approx(macs - 6 * 3 * layer.taps.shape[1])


class ZeroStuffConv1d(Upsampler):
    """A kind written only for this test: zeros between the samples, then a stride-1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, factor: int, kernel_size: int = 5, bias: bool = True):
        super().__init__()
        check_args(in_channels, out_channels, factor, kernel_size)
        self.in_channels, self.out_channels, self.factor, self.kernel_size = in_channels, out_channels, factor, kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        init_conv_(self.weight, self.bias, in_channels * kernel_size)
        self.left = (kernel_size - 1) // 2

    def forward(self, x: Tensor) -> Tensor:
        b, c, t = x.shape
        stuffed = x.new_zeros(b, c, t, self.factor)
        stuffed[..., 0] = x
        u = F.pad(stuffed.reshape(b, c, t * self.factor), (self.left, self.kernel_size - 1 - self.left))
        return F.conv1d(u, self.weight, self.bias)

    def macs_per_input_sample(self) -> int:
        return self.in_channels * self.out_channels * self.kernel_size * self.factor

    def folded_kernel(self):
        return self.weight.flip(-1).transpose(0, 1), self.kernel_size - 1 - self.left

    def folded_basis(self):
        return torch.eye(self.kernel_size, dtype=torch.float64).flip(-1), self.kernel_size - 1 - self.left

    def weight_from_free(self, free: Tensor) -> Tensor:
        return free.transpose(0, 1)


def test_a_new_kind_needs_its_class_and_one_registry_line(monkeypatch):
    monkeypatch.setitem(UPSAMPLER_KINDS, "zero-stuff", ZeroStuffConv1d)
    torch.manual_seed(1)
    layer = build_upsampler({"kind": "zero-stuff", "kernel_size": 7}, 4, 2, 3, bias=False).double()
    assert multiplies_per_input_sample(layer) == 4 * 2 * 7 * 3
    x = torch.randn(1, 4, 30, dtype=torch.float64)
    kernel, start = layer.folded_kernel()
    with torch.no_grad():
        torch.testing.assert_close(folded_output(x, kernel, start, 3), layer(x), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="does not take option"):
        build_upsampler("zero-stuff", 4, 2, 3, mode="linear")
    # a transposed kernel whose taps (tau -2..4) lie inside the new kind's (-4..4) projects exactly
    old = build_upsampler("transposed", 4, 2, 3, kernel_size=7, bias=False).double()
    new = build_upsampler("zero-stuff", 4, 2, 3, kernel_size=9, bias=False).double()
    assert project_layer(old, new).residual_energy < 1e-20
    with torch.no_grad():
        torch.testing.assert_close(new(x), old(x), rtol=0, atol=1e-10)


def test_a_new_kind_builds_into_a_generator(monkeypatch):
    from audioup.models import HiFiGAN, calibrate_levels_, hifigan_preset

    monkeypatch.setitem(UPSAMPLER_KINDS, "zero-stuff", ZeroStuffConv1d)
    torch.manual_seed(2)
    g = HiFiGAN(**hifigan_preset("tiny"), upsampler="zero-stuff")
    assert all(isinstance(u, ZeroStuffConv1d) for u in g.upsamplers)
    assert all(u.kernel_size == 5 for u in g.upsamplers)  # its own default, not the generator's kernels
    scales = calibrate_levels_(g)  # the level calibration runs through it too: not the reference, so matched
    assert len(scales) == 3 and all(s > 0 for s in scales) and scales != [1.0, 1.0, 1.0]
    wav = g(torch.randn(1, 80, 4))
    assert wav.shape == (1, 1, 4 * 256) and torch.isfinite(wav).all() and wav.abs().max() > 0
    wav.square().mean().backward()
    assert all(u.parametrizations.weight.original1.grad.abs().sum() > 0 for u in g.upsamplers)


class ReferenceZeroStuff(ZeroStuffConv1d):
    """The same kind declared the reference (as transposed is)."""

    REFERENCE = True


def test_a_reference_kind_takes_the_generators_kernels_and_is_left_as_drawn(monkeypatch):
    from audioup.models import HiFiGAN, calibrate_levels_, hifigan_preset

    monkeypatch.setitem(UPSAMPLER_KINDS, "zero-stuff", ReferenceZeroStuff)
    torch.manual_seed(2)
    g = HiFiGAN(**{**hifigan_preset("tiny"), "upsample_kernel_sizes": (9, 9, 5)}, upsampler="zero-stuff")
    assert [u.kernel_size for u in g.upsamplers] == [9, 9, 5]
    before = [u.weight.detach().clone() for u in g.upsamplers]
    assert calibrate_levels_(g) == [1.0, 1.0, 1.0]
    assert all(torch.equal(a, u.weight) for a, u in zip(before, g.upsamplers))


@pytest.mark.parametrize("icnr", [False, True])
def test_init_normal_keeps_the_kinds_structure(icnr):
    torch.manual_seed(3)
    layer = build_upsampler("subpixel", 64, 32, 4, icnr=icnr, kernel_size=5)
    layer.init_normal_(0.01)
    phases = layer.weight.view(32, 4, 64, 5)
    assert torch.equal(phases, phases[:, :1].expand_as(phases)) == icnr
    assert 0.009 < float(layer.weight.std()) < 0.011
    plain = build_upsampler("resize-linear", 64, 32, 4)
    plain.init_normal_(0.02)
    assert 0.019 < float(plain.weight.std()) < 0.021 and abs(float(plain.weight.mean())) < 0.001


def test_a_layer_that_is_no_upsampler_is_named():
    with pytest.raises(TypeError, match="Conv1d.*not an audioup Upsampler"):
        multiplies_per_input_sample(nn.Conv1d(2, 2, 3))
    assert Upsampler().folded_kernel() is None and Upsampler().folded_basis() is None
    with pytest.raises(NotImplementedError, match="Upsampler does not say"):
        Upsampler().macs_per_input_sample()
