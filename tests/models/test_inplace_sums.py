"""The residual and MRF sums run in place: outputs and gradients bit-identical to the
out-of-place sums, in training mode (autograd must accept the in-place adds), and no
block's input is ever written."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audioup.models import MRF, AMPBlock, BigVGAN, HiFiGAN, ISTFTNet, ResBlock1, ResBlock2
from audioup.models import istft as istft_module
from audioup.models.resblocks import LRELU_SLOPE, add_into

COMMON = dict(n_mels=20, upsample_initial_channel=16, upsample_factors=(4, 2), upsample_kernel_sizes=(8, 4))


# The out-of-place sums the modules used before (the reference for values and gradients).
def resblock1_out_of_place(self, x):
    for c1, c2 in zip(self.convs1, self.convs2):
        x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
    return x


def resblock2_out_of_place(self, x):
    for conv in self.convs:
        x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
    return x


def ampblock_out_of_place(self, x):
    for c1, c2, a1, a2 in zip(self.convs1, self.convs2, self.acts1, self.acts2):
        x = x + c2(a2(c1(a1(x))))
    return x


def mrf_out_of_place(self, x):
    out = self.blocks[0](x)
    for block in self.blocks[1:]:
        out = out + block(x)
    return out / len(self.blocks)


def overlap_add_out_of_place(frames, hop):
    batch, n_fft = frames.shape[0], frames.shape[-1]
    blocks = n_fft // hop
    parts = frames.reshape(batch, -1, blocks, hop)
    out = F.pad(parts[:, :, 0], (0, 0, 0, blocks - 1))
    for r in range(1, blocks):
        out = out + F.pad(parts[:, :, r], (0, 0, r, blocks - 1 - r))
    return out.reshape(batch, -1)


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "hifigan-1":
        return HiFiGAN(resblock="1", resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3), (1, 3)), **COMMON)
    if name == "hifigan-2":
        return HiFiGAN(resblock="2", resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 2), (2, 3)), **COMMON)
    if name == "istftnet":
        return ISTFTNet(resblock="1", resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3), (1, 3)), **COMMON)
    return BigVGAN(resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3), (1, 2)), **COMMON)


def forward_backward(g: nn.Module, mel: torch.Tensor):
    mel = mel.clone().requires_grad_(True)
    wav = g(mel)
    (wav.square().mean() + wav.mean()).backward()
    grads = {n: p.grad.clone() for n, p in g.named_parameters()}
    g.zero_grad(set_to_none=True)
    return wav.detach(), mel.grad, grads


@pytest.mark.parametrize("name", ["hifigan-1", "hifigan-2", "bigvgan", "istftnet"])
def test_in_place_sums_match_out_of_place_values_and_gradients(name, monkeypatch):
    g = build(name).train()
    mel = torch.randn(2, 20, 6, generator=torch.Generator().manual_seed(1))
    wav, mel_grad, grads = forward_backward(g, mel)

    monkeypatch.setattr(ResBlock1, "forward", resblock1_out_of_place)
    monkeypatch.setattr(ResBlock2, "forward", resblock2_out_of_place)
    monkeypatch.setattr(AMPBlock, "forward", ampblock_out_of_place)
    monkeypatch.setattr(MRF, "forward", mrf_out_of_place)
    monkeypatch.setattr(istft_module, "overlap_add", overlap_add_out_of_place)
    ref_wav, ref_mel_grad, ref_grads = forward_backward(g, mel)

    assert wav.abs().max() > 0 and mel_grad.abs().max() > 0
    assert torch.equal(wav, ref_wav)
    assert torch.equal(mel_grad, ref_mel_grad)
    assert grads.keys() == ref_grads.keys()
    for key, grad in grads.items():
        assert torch.equal(grad, ref_grads[key]), key


def test_in_place_inference_matches_out_of_place_without_weight_norm(monkeypatch):
    g = build("hifigan-1").eval().remove_weight_norm()
    mel = torch.randn(1, 20, 9, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        wav = g(mel)
    monkeypatch.setattr(ResBlock1, "forward", resblock1_out_of_place)
    monkeypatch.setattr(MRF, "forward", mrf_out_of_place)
    with torch.inference_mode():
        assert torch.equal(wav, g(mel))


@pytest.mark.parametrize("blocks", [lambda: [nn.Identity(), nn.Identity()],
                                    lambda: [ResBlock2(4, 3, (1, 2)), ResBlock1(4, 3, (1, 3))]])
def test_mrf_never_writes_its_input(blocks):
    torch.manual_seed(3)
    mrf = MRF(blocks())
    x = torch.randn(1, 4, 16)
    before = x.clone()
    out = mrf(x)
    assert torch.equal(x, before)
    expected = sum(b(before) for b in mrf.blocks) / len(mrf.blocks)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["hifigan-1", "bigvgan"])
def test_in_place_sums_match_under_autocast(name, monkeypatch):
    g = build(name).eval()
    mel = torch.randn(1, 20, 6, generator=torch.Generator().manual_seed(5))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        wav = g(mel)
        monkeypatch.setattr(ResBlock1, "forward", resblock1_out_of_place)
        monkeypatch.setattr(AMPBlock, "forward", ampblock_out_of_place)
        monkeypatch.setattr(MRF, "forward", mrf_out_of_place)
        ref = g(mel)
    assert wav.dtype == ref.dtype and torch.equal(wav, ref)


def test_add_into_keeps_the_wider_dtype_of_a_mixed_sum():
    x = torch.randn(8, dtype=torch.float32)
    y = torch.randn(8).to(torch.bfloat16)
    before = y.clone()
    out = add_into(y, x)
    assert out.dtype == torch.float32 and torch.equal(out, before.float() + x) and torch.equal(y, before)
    same = torch.randn(8)
    expected = same + x
    assert add_into(same, x) is same and torch.equal(same, expected)


def test_overlap_add_in_place_equals_the_sum_of_shifted_blocks():
    frames = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(4))
    assert torch.equal(istft_module.overlap_add(frames, 3), overlap_add_out_of_place(frames, 3))
