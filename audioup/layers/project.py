"""Least-squares projection of a trained transposed kernel onto a resize-convolution's tied kernels.

Every resize kind's fast path is a strided transposed convolution whose kernel is linear in
the layer's weights: ``K[i, o, t] = sum_j w[o, i, j] * scatter[j, t]``
(:func:`audioup.layers.resize.transposed_plan`). A trained ``ConvTranspose1d`` with kernel
``T`` can therefore be replaced by the resize layer whose folded kernel is closest to ``T``
in the least-squares sense, once both kernels are written against the same output offset
``tau = n - factor * m`` (output sample ``n``, input sample ``m``):

    T_eff[tau] = T[tau + padding]             (ConvTranspose1d)
    K_eff[tau] = K[tau + padding' - factor * pad_left']   (folded resize layer)

The residual ``T_eff - K_eff`` is the part of the trained kernel that no tied kernel can
make. For nearest resize with ``kernel_size = factor + 1`` against HiFi-GAN's ``2 * factor``
kernel the tied kernels are exactly those whose ``factor`` polyphase components have equal
sums (both are the ``2 * factor``-tap kernels divisible by the length-``factor`` box), so
the residual is precisely what makes the checkerboard's DC-gain ripple; for linear or sinc
resize the tied set is smaller and the residual larger.

- :func:`effective_offsets`: where a layer's folded taps sit in ``tau``.
- :func:`project_kernel`: the least-squares weights and the residual energy, one function.
- :func:`project_layer`: the same from a trained layer into a freshly built one, in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor, nn

from ..audio.db import to_db
from .base import Upsampler, effective_weight, kernel_length, set_weight_


@dataclass
class Projection:
    """What :func:`project_layer` changed in one layer.

    Attributes:
        residual_energy: ``||T - K||^2 / ||T||^2`` of the trained kernel's part outside the
            tied set (0: the trained kernel was already tied; 1: nothing of it is kept).
        kernel_energy: ``||T||^2``.
    """

    residual_energy: float
    kernel_energy: float

    @property
    def residual_db(self) -> float:
        """Residual energy relative to the kernel's, in dB (the -300 dB floor for an exact fit)."""
        return to_db(self.residual_energy)


def effective_offsets(layer: nn.Module) -> Tuple[Tensor, int]:
    """``(basis, start)``: the layer's folded kernel is ``w @ basis``; tap ``t`` sits at ``tau = t - start``.

    An audioup upsampler says it (:meth:`~.base.Upsampler.folded_basis`: the resize layer's
    scatter matrix, the sub-pixel phases' placement, the identity for a transposed layer); a
    plain torch ``ConvTranspose1d`` (a loaded official model's) has the identity.

    Raises:
        ValueError: a dilated or grouped transposed convolution, or a kind without a folded form.
    """
    found = layer.folded_basis() if isinstance(layer, Upsampler) else None
    if found is not None:
        return found
    if isinstance(layer, nn.ConvTranspose1d) and not isinstance(layer, Upsampler):
        if layer.dilation[0] != 1 or layer.groups != 1:
            raise ValueError(f"{type(layer).__name__} with dilation {layer.dilation[0]} / groups {layer.groups} "
                             "has no tied-kernel projection")
        k = kernel_length(layer)
        return torch.eye(k, dtype=torch.float64), layer.padding[0]
    raise ValueError(f"{type(layer).__name__} has no folded (transposed-convolution) form to project onto; "
                     "projection supports resize (nearest, linear, sinc), sub-pixel and transposed layers")


def project_kernel(kernel: Tensor, start: int, basis: Tensor, basis_start: int) -> Tuple[Tensor, Tensor]:
    """Least-squares ``w`` with ``w @ basis`` closest to ``kernel`` on the common ``tau`` grid.

    Args:
        kernel: trained ``(C_in, C_out, k)`` transposed kernel; its tap ``t`` sits at ``tau = t - start``.
        start: the trained layer's ``padding``.
        basis: ``(J, L)`` map from the new layer's ``J`` free weights to its folded taps.
        basis_start: offset of the basis taps (:func:`effective_offsets`).

    Returns:
        ``(w, residual)``: ``w`` of shape ``(C_in, C_out, J)`` (float64) and the residual
        ``kernel - w @ basis`` on the common grid, ``(C_in, C_out, N)``.
    """
    c_in, c_out, k = kernel.shape
    length = basis.shape[1]
    lo = min(-start, -basis_start)
    hi = max(k - start, length - basis_start)
    n = hi - lo
    target = kernel.new_zeros((c_in * c_out, n), dtype=torch.float64)
    target[:, -start - lo:-start - lo + k] = kernel.detach().double().reshape(c_in * c_out, k)
    ext = torch.zeros(basis.shape[0], n, dtype=torch.float64)
    ext[:, -basis_start - lo:-basis_start - lo + length] = basis.double()
    # min ||w ext - target||: normal equations with a pseudo-inverse (ext has full row rank here)
    w = target @ torch.linalg.pinv(ext)
    residual = target - w @ ext
    return w.reshape(c_in, c_out, -1), residual.reshape(c_in, c_out, n)


@torch.no_grad()
def project_layer(old: nn.Module, new: nn.Module) -> Projection:
    """Set ``new``'s weights (and bias) to the tied kernel closest to ``old``'s, in place.

    ``old`` is a ``ConvTranspose1d`` (weight norm of either kind allowed), ``new`` a resize,
    sinc or transposed layer with the same channels and factor (weight norm allowed: the
    parametrisation's ``right_inverse`` takes the projected weight).

    Raises:
        ValueError: unsupported layer kinds or mismatched channels/factor.
    """
    kernel = effective_weight(old)
    basis, basis_start = effective_offsets(new)
    _, start = effective_offsets(old)
    w, residual = project_kernel(kernel, start, basis, basis_start)
    target_shape = tuple(new.weight.shape)
    weight = new.weight_from_free(w) if isinstance(new, Upsampler) else w  # torch's own: the taps are free
    if tuple(weight.shape) != target_shape:
        raise ValueError(f"cannot project a {tuple(kernel.shape)} kernel onto a layer with weight {target_shape}")
    set_weight_(new, weight.to(new.weight.dtype).contiguous())
    if old.bias is not None and new.bias is not None:
        new.bias.copy_(old.bias.repeat_interleave(new.bias.numel() // old.bias.numel()))  # sub-pixel: per phase
    energy = float(kernel.detach().double().pow(2).sum())
    residual_energy = float(residual.pow(2).sum()) / energy if energy > 0 else 0.0  # a zero kernel fits exactly
    return Projection(residual_energy=residual_energy, kernel_energy=energy)
