"""A layer as an explicit matrix.

Every upsampler is affine: ``y = M x + b`` once the input length is fixed
(transposed convolution, resize-convolution, subpixel and sinc alike, edges
included). Writing ``M`` out shows what the kernels hide. A transposed
convolution's rows come in ``factor`` patterns, each using a different subset
of the kernel's taps: the rows of phase ``r`` hold the taps ``j = r mod
factor`` only, so their sums (the response to a constant) differ. In a
resize-convolution every row is the same high-rate kernel, folded through the
interpolator: the taps are tied, so the row sums agree.

:func:`layer_matrix` probes the layer with the unit inputs (in float64), so
it works for any layer without knowing its internals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import Tensor, nn

from .probe import layer_factor, layer_in_channels, plain_copy


@dataclass
class LayerMatrix:
    """Result of :func:`layer_matrix`.

    Attributes:
        matrix: ``(rows, cols)`` float64. For one channel pair ``(L_out, L_in)``;
            for the full layer ``(C_out * L_out, C_in * L_in)`` with channel-major
            blocks (row ``o * L_out + n``, column ``i * L_in + m``).
        bias: ``(rows,)`` the output for a zero input.
        factor, length: upsampling factor and the input length ``L_in``.
        in_channel, out_channel: the pair, or ``None`` for the full layer.
        out_length: ``L_out``.
    """

    matrix: Tensor
    bias: Tensor
    factor: int
    length: int
    out_length: int
    in_channel: Optional[int]
    out_channel: Optional[int]

    def apply(self, x: Tensor) -> Tensor:
        """``M x + b`` for ``x`` shaped like the layer's input: ``(B, C_in, L_in)`` or, for a pair, ``(B, L_in)``.

        Returns ``(B, C_out, L_out)`` (full) or ``(B, L_out)`` (pair).
        """
        flat = x.to(self.matrix.dtype).reshape(x.shape[0], -1)
        y = flat @ self.matrix.T + self.bias
        if self.in_channel is None:
            return y.reshape(x.shape[0], -1, self.out_length)
        return y

    def phase_row_sums(self, margin: Optional[int] = None) -> List[float]:
        """Mean row sum (the gain for a constant input) of each output phase, away from the edges.

        For the full matrix, row sums are averaged over output channels too.
        """
        rows = self.matrix.sum(dim=1).reshape(-1, self.out_length)
        margin = self.out_length // 4 if margin is None else margin
        start = -(-margin // self.factor) * self.factor
        stop = self.out_length - margin
        n = (stop - start) // self.factor
        if n < 1:
            raise ValueError(f"input length {self.length} is too short to leave a full period inside the edges")
        cells = rows[:, start:start + n * self.factor].reshape(rows.shape[0], n, self.factor)
        return cells.mean(dim=(0, 1)).tolist()

    def distinct_row_patterns(self, margin: Optional[int] = None, tol: float = 1e-9) -> int:
        """How many different rows (up to the shift by one input sample) the matrix has away from the edges.

        ``factor`` for a transposed convolution or a resize-convolution (one
        polyphase kernel per phase); 1 when every phase applies the same
        kernel (e.g. subpixel with ICNR at initialisation).
        """
        m = self.matrix if self.in_channel is not None else self.matrix[: self.out_length]
        m = m[:, : self.length] if self.in_channel is None else m
        margin = self.out_length // 4 if margin is None else margin
        start = -(-margin // self.factor) * self.factor
        patterns: List[Tensor] = []
        for r in range(self.factor):
            n = start + r
            shift = n // self.factor
            row = m[n]
            # align: express the row relative to its own input sample
            aligned = torch.roll(row, -shift)
            if not any(torch.allclose(aligned, p, atol=tol, rtol=0) for p in patterns):
                patterns.append(aligned)
        return len(patterns)

    def to_dict(self) -> dict:
        return {
            "shape": list(self.matrix.shape), "factor": self.factor, "length": self.length,
            "out_length": self.out_length, "in_channel": self.in_channel, "out_channel": self.out_channel,
            "phase_row_sums": self.phase_row_sums(),
            "distinct_row_patterns": self.distinct_row_patterns(),
        }


def layer_matrix(layer: nn.Module, length: int = 16, in_channel: Optional[int] = 0,
                 out_channel: Optional[int] = 0) -> LayerMatrix:
    """The matrix of a layer for inputs of ``length`` samples.

    Args:
        layer: any upsampler or ``nn.ConvTranspose1d`` (weight norm folded in;
            the layer is not changed).
        length: input length ``L_in``.
        in_channel, out_channel: the channel pair to write out; pass ``None``
            for both to get the full ``(C_out * L_out, C_in * L_in)`` matrix.

    Returns:
        :class:`LayerMatrix`; ``matrix.apply(x)`` reproduces ``layer(x)``.

    Shape:
        Pair: ``(L_out, L_in)``. Full: ``(C_out * L_out, C_in * L_in)``.
    """
    if (in_channel is None) != (out_channel is None):
        raise ValueError("give both in_channel and out_channel, or neither (full matrix)")
    factor = layer_factor(layer)
    probe = plain_copy(layer)
    c_in = layer_in_channels(probe)
    if in_channel is not None and not 0 <= in_channel < c_in:
        raise ValueError(f"in_channel {in_channel} out of range for {c_in} input channels")
    with torch.no_grad():
        y0 = probe(torch.zeros(1, c_in, length, dtype=torch.float64))[0]
        c_out, l_out = y0.shape
        if out_channel is not None and not 0 <= out_channel < c_out:
            raise ValueError(f"out_channel {out_channel} out of range for {c_out} output channels")
        channels = range(c_in) if in_channel is None else [in_channel]
        columns = []
        for i in channels:
            basis = torch.zeros(length, c_in, length, dtype=torch.float64)
            basis[torch.arange(length), i, torch.arange(length)] = 1.0
            y = probe(basis) - y0  # (L_in, C_out, L_out): column m of block (., i)
            columns.append(y if out_channel is None else y[:, out_channel:out_channel + 1])
        cols = torch.cat(columns, dim=0)  # (n_cols, C, L_out)
        matrix = cols.reshape(cols.shape[0], -1).T.contiguous()
        bias = (y0 if out_channel is None else y0[out_channel]).reshape(-1)
    return LayerMatrix(matrix, bias, factor, length, l_out, in_channel, out_channel)


__all__ = ["LayerMatrix", "layer_matrix"]
