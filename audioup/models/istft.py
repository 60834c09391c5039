"""Inverse STFT as fixed linear algebra: a matrix product and an overlap-add of shifted copies.

``torch.istft`` works on complex tensors through FFTs, which ONNX cannot export, and with
``center=False`` it refuses a Hann window whose overlap-add is zero at the very first
sample. Here the inverse real DFT and the synthesis window are one fixed matrix
``(2 * (n_fft // 2 + 1), n_fft)`` (:func:`synthesis_basis`), applied to the real and
imaginary parts stacked; the frames are overlap-added by reshaping them into
``n_fft / hop`` blocks of one hop and summing shifted copies (:func:`overlap_add`);
the result is divided by the overlap-added squared window, exactly what
``torch.istft`` computes. Every step is a matmul, reshape, pad, add or divide, so the
module runs under TorchScript and exports to ONNX with a dynamic number of frames.

Two framings (``padding``):

- ``"same"``: frame ``i`` is centred on sample ``i * hop + hop / 2``, the framing of
  :func:`audioup.audio.mel.padded_stft` (HiFi-GAN's ``(n_fft - hop) / 2`` padding): ``N``
  frames give ``N * hop`` samples, and ``inverse_stft(padded_stft(x)) == x``. This is what
  the iSTFT generators use (Vocos calls it ``padding="same"``).
- ``"center"``: ``torch.istft(..., center=True)``: ``N`` frames give ``(N - 1) * hop``
  samples, frame ``i`` centred on sample ``i * hop``.

Cost per frame: ``(n_fft + 2) * n_fft`` multiply-adds (1.05M for ``n_fft=1024``) for the
matrix product; the overlap-add and the normalisation are ``O(n_fft)``. In eager mode
:class:`InverseSTFT` takes the same steps with ``torch.fft.irfft`` in place of the matrix
product (``O(n_fft log n_fft)``, the same result to float rounding), and the matrix when
scripted or exported.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PADDINGS = ("same", "center")
MIN_ENVELOPE = 1e-11  # torch.istft's floor for the overlap-added squared window


def hann_window(win_length: int, n_fft: int) -> Tensor:
    """Periodic Hann window of ``win_length`` zero-padded to ``n_fft`` on both sides (as ``torch.istft``)."""
    window = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
    left = (n_fft - win_length) // 2
    return F.pad(window, (left, n_fft - win_length - left))


def synthesis_basis(n_fft: int, window: Tensor) -> Tensor:
    """The windowed inverse real DFT as a ``(2 * (n_fft // 2 + 1), n_fft)`` matrix.

    Row ``k`` (cosine) and row ``F + k`` (minus sine) weight the real and imaginary part
    of bin ``k``: ``frame[n] = window[n] / n_fft * sum_k c_k (Re X_k cos(2 pi k n / n_fft)
    - Im X_k sin(2 pi k n / n_fft))`` with ``c_k = 2`` except 1 at DC and Nyquist, which is
    ``torch.fft.irfft`` (the imaginary parts of DC and Nyquist are ignored) times the window.
    """
    bins = n_fft // 2 + 1
    k = torch.arange(bins, dtype=torch.float64).unsqueeze(1)
    n = torch.arange(n_fft, dtype=torch.float64).unsqueeze(0)
    angle = 2 * math.pi * k * n / n_fft
    weight = torch.full((bins, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    basis = torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)]) / n_fft
    return (basis * window.to(torch.float64)).float()


def overlap_add(frames: Tensor, hop: int) -> Tensor:
    """Overlap-add ``(B, N, n_fft)`` frames every ``hop`` samples -> ``(B, (N - 1) * hop + n_fft)``.

    ``n_fft`` must be a multiple of ``hop``: each frame is ``R = n_fft / hop`` blocks of one
    hop, and block ``r`` of frame ``i`` lands on output block ``i + r``, so the output is the
    sum of ``R`` copies shifted by whole blocks (pads and adds, no scatter).
    """
    batch, n_fft = frames.shape[0], frames.shape[-1]
    blocks = n_fft // hop
    parts = frames.reshape(batch, -1, blocks, hop)
    out = F.pad(parts[:, :, 0], (0, 0, 0, blocks - 1))
    for r in range(1, blocks):
        out.add_(F.pad(parts[:, :, r], (0, 0, r, blocks - 1 - r)))  # in place: out is a fresh pad
    return out.reshape(batch, -1)


def trim(n_fft: int, hop: int, padding: str) -> Tuple[int, int]:
    """Samples cut from the start and from the end of the overlap-added signal."""
    if padding == "center":
        return n_fft // 2, n_fft // 2
    start = (n_fft - hop) // 2
    return start, n_fft - hop - start


def inverse_stft(real: Tensor, imag: Tensor, basis: Tensor, window_sq: Tensor, hop: int,
                 padding: str = "same") -> Tensor:
    """Inverse STFT of a one-sided spectrum given as real and imaginary parts.

    Args:
        real, imag: ``(B, n_fft // 2 + 1, N)``.
        basis: :func:`synthesis_basis` ``(2 * (n_fft // 2 + 1), n_fft)``.
        window_sq: the squared synthesis window ``(n_fft,)``.
        hop: samples between frames (``n_fft`` a multiple of it).
        padding: ``"same"`` or ``"center"`` (see the module docstring).

    Shape:
        Output: ``(B, N * hop)`` for ``"same"``, ``(B, (N - 1) * hop)`` for ``"center"``.
    """
    spec = torch.cat([real, imag], dim=1).transpose(1, 2)
    frames = torch.matmul(spec, basis)
    return _normalise(frames, window_sq, hop, padding)


def _normalise(frames: Tensor, window_sq: Tensor, hop: int, padding: str) -> Tensor:
    """Overlap-add windowed frames, divide by the overlap-added squared window, trim the ends."""
    y = overlap_add(frames, hop)
    envelope = overlap_add(torch.ones_like(frames[:1, :, :1]) * window_sq, hop)
    start, end = trim(frames.shape[-1], hop, padding)
    length = y.shape[-1]
    y = y[:, start:length - end]
    envelope = envelope[:, start:length - end]
    return y / envelope.clamp_min(1e-11)  # MIN_ENVELOPE (TorchScript reads no globals)


class InverseSTFT(nn.Module):
    """Inverse STFT (Hann window) that scripts and exports: see the module docstring.

    Args:
        n_fft: FFT size; a multiple of ``hop_length``.
        hop_length: samples between frames.
        win_length: Hann window length (``None``: ``n_fft``), centred in ``n_fft``.
        padding: ``"same"`` (``N`` frames -> ``N * hop`` samples, the mel front end's
            framing) or ``"center"`` (``torch.istft(center=True)``).

    Buffers (not saved in a state dict: they follow from the arguments): ``basis``, ``window_sq``.

    Shape:
        Input: ``real``, ``imag`` ``(B, n_fft // 2 + 1, N)``. Output: ``(B, N * hop)``
        (``"same"``) or ``(B, (N - 1) * hop)`` (``"center"``).

    >>> InverseSTFT(16, 4)(torch.zeros(1, 9, 5), torch.zeros(1, 9, 5)).shape
    torch.Size([1, 20])
    """

    def __init__(self, n_fft: int, hop_length: int, win_length=None, padding: str = "same"):
        super().__init__()
        win_length = n_fft if win_length is None else int(win_length)
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if hop_length < 1 or n_fft % hop_length:
            raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop_length ({hop_length})")
        if not 1 <= win_length <= n_fft:
            raise ValueError(f"win_length must be in [1, n_fft={n_fft}], got {win_length}")
        self.n_fft, self.hop_length, self.win_length, self.padding = int(n_fft), int(hop_length), win_length, padding
        window = hann_window(win_length, n_fft)
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("window_sq", window.pow(2).float(), persistent=False)
        self.register_buffer("basis", synthesis_basis(n_fft, window), persistent=False)

    def forward(self, real: Tensor, imag: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return inverse_stft(real, imag, self.basis, self.window_sq, self.hop_length, self.padding)
        return self._eager(real, imag)

    @torch.jit.unused
    def _eager(self, real: Tensor, imag: Tensor) -> Tensor:
        """The matrix product when exporting, ``torch.fft.irfft`` (fewer operations) otherwise."""
        if torch.onnx.is_in_onnx_export():
            return inverse_stft(real, imag, self.basis, self.window_sq, self.hop_length, self.padding)
        frames = torch.fft.irfft(torch.complex(real, imag).transpose(1, 2), n=self.n_fft) * self.window
        return _normalise(frames, self.window_sq, self.hop_length, self.padding)

    def extra_repr(self) -> str:
        return f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, padding={self.padding}"
