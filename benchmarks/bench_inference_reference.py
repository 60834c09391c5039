"""audioup's HiFi-GAN V1/V2/V3 against a plain implementation of the paper's generator: CPU inference.

The reference network below is written out from the HiFi-GAN paper (Kong et al., 2020) and
the layer order of its official code, as directly as it reads there and with nothing of
audioup in it: a 7-tap input convolution; per upsampling factor ``u`` with kernel ``k`` a
LeakyReLU(0.1) and ``ConvTranspose1d(stride=u, padding=(k - u) // 2)``; then the mean of the
residual blocks (accumulated with ``+=``, as the official code does), each block adding
``conv(lrelu(...))`` to its input out of place (``x = xt + x``); a LeakyReLU with PyTorch's
default slope, a 7-tap output convolution and tanh. The official key names are used
(``conv_pre``, ``ups.i``, ``resblocks.{i * n_kernels + j}``, ``conv_post``).

For each preset one audioup ``HiFiGAN`` with transposed layers is built (seed 0), its weight
norm removed, and its weights copied into the reference by name (``load_state_dict(strict=True)``);
the two outputs must agree to 1e-5 (largest absolute difference, output peak printed beside it)
before any timing. Both run under ``torch.inference_mode`` on the same random mel, batch 1,
interleaved round by round (``bench_models.interleaved``, the order rotating), after one warm-up
call each; the fastest of ``--rounds`` rounds counts. "audioup / reference" below 1 means audioup
is faster. Wall time and this process's CPU time are both printed.

The script's folder comes first on ``sys.path``, so ``audioup`` is the installed copy; to time a
checkout run it with ``PYTHONPATH=.`` from the checkout (the header line names the copy timed).

Usage: ``python benchmarks/bench_inference_reference.py [--threads 1] [--seconds 3] [--rounds 5]
[--presets v1 v2 v3] [--markdown]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from pathlib import Path
from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import interleaved  # noqa: E402  (the side-by-side timing of bench_models.py)

import audioup  # noqa: E402
from audioup.models import build_generator, hifigan_preset  # noqa: E402


class RefResBlock1(nn.Module):
    """Per dilation: ``xt = c2(lrelu(c1(lrelu(x)))); x = xt + x``."""

    def __init__(self, ch: int, k: int, dilations: Sequence[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=(k * d - d) // 2) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, k, 1, dilation=1, padding=(k - 1) // 2) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = F.leaky_relu(x, 0.1)
            xt = c1(xt)
            xt = F.leaky_relu(xt, 0.1)
            xt = c2(xt)
            x = xt + x
        return x


class RefResBlock2(nn.Module):
    """Per dilation: ``xt = c(lrelu(x)); x = xt + x``."""

    def __init__(self, ch: int, k: int, dilations: Sequence[int]):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=(k * d - d) // 2) for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            xt = F.leaky_relu(x, 0.1)
            xt = c(xt)
            x = xt + x
        return x


class RefGenerator(nn.Module):
    """The paper's generator with plain (weight-norm-free) convolutions."""

    def __init__(self, n_mels: int, upsample_factors, upsample_kernel_sizes, upsample_initial_channel: int,
                 resblock: str, resblock_kernel_sizes, resblock_dilations):
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(n_mels, upsample_initial_channel, 7, 1, padding=3)
        block = RefResBlock1 if str(resblock) == "1" else RefResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for u, k in zip(upsample_factors, upsample_kernel_sizes):
            self.ups.append(nn.ConvTranspose1d(ch, ch // 2, k, u, padding=(k - u) // 2))
            ch //= 2
            for rk, rd in zip(resblock_kernel_sizes, resblock_dilations):
                self.resblocks.append(block(ch, rk, rd))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = F.leaky_relu(x, 0.1)
            x = up(x)
            xs = None
            for j in range(self.num_kernels):
                if xs is None:
                    xs = self.resblocks[i * self.num_kernels + j](x)
                else:
                    xs += self.resblocks[i * self.num_kernels + j](x)
            x = xs / self.num_kernels
        x = F.leaky_relu(x)
        x = self.conv_post(x)
        return torch.tanh(x)


def official_names(state: Dict[str, Tensor], n_kernels: int) -> Dict[str, Tensor]:
    """audioup's plain-weight keys -> the reference's (``upsamplers.i`` -> ``ups.i``,
    ``mrfs.i.blocks.j`` -> ``resblocks.{i * n_kernels + j}``)."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"^upsamplers\.", "ups.", key)
        m = re.match(r"^mrfs\.(\d+)\.blocks\.(\d+)\.(.*)$", key)
        if m:
            key = f"resblocks.{int(m.group(1)) * n_kernels + int(m.group(2))}.{m.group(3)}"
        out[key] = value
    return out


def pair(preset: str):
    """``(audioup generator, reference generator)`` with the same weights, both in eval mode."""
    torch.manual_seed(0)
    ours = build_generator("hifigan", preset=preset, upsampler="transposed").eval().remove_weight_norm()
    kwargs = hifigan_preset(preset)
    ref = RefGenerator(ours.n_mels, **kwargs).eval()
    ref.load_state_dict(official_names(ours.state_dict(), len(kwargs["resblock_kernel_sizes"])), strict=True)
    return ours, ref


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="audio length of the random mel")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=["v1", "v2", "v3"])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    runs, seconds, checks = {}, None, {}
    for preset in args.presets:
        ours, ref = pair(preset)
        frames = max(1, round(args.seconds * ours.sample_rate / ours.hop_length))
        seconds = frames * ours.hop_length / ours.sample_rate
        mel = torch.randn(1, ours.n_mels, frames, generator=torch.Generator().manual_seed(1)) - 5.0
        with torch.inference_mode():
            a, b = ours(mel), ref(mel)
        diff = (a - b).abs().max().item()
        checks[preset] = (diff, a.abs().max().item())
        if a.shape != b.shape or diff > 1e-5:
            sys.exit(f"{preset}: outputs differ (shapes {tuple(a.shape)} / {tuple(b.shape)}, max |diff| {diff:.2e})")
        for name, model in ((f"{preset} audioup", ours), (f"{preset} reference", ref)):
            def run(model=model, mel=mel):
                with torch.inference_mode():
                    model(mel)
            runs[name] = run

    wall, cpu = interleaved(runs, args.rounds)
    print(f"\n{seconds:.2f} s of audio, {args.threads} thread(s), best of {args.rounds} rounds; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"load {os.getloadavg()[0]:.2f}; audioup from {Path(audioup.__file__).parent}")
    header = ["preset", "max abs diff (peak)", "audioup RTF", "reference RTF", "audioup / reference (wall)",
              "audioup / reference (CPU)"]
    rows = []
    for preset in args.presets:
        ours, ref = f"{preset} audioup", f"{preset} reference"
        diff, peak = checks[preset]
        rows.append([preset, f"{diff:.1e} ({peak:.2f})", f"{min(wall[ours]) / seconds:.4f}",
                     f"{min(wall[ref]) / seconds:.4f}", f"{min(wall[ours]) / min(wall[ref]):.3f}",
                     f"{min(cpu[ours]) / min(cpu[ref]):.3f}"])
    if args.markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
