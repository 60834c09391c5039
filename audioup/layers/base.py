"""What every upsampler shares: the contract (:class:`Upsampler`), argument checks, edge padding, weight norm."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _parametrized_weight_norm

PAD_MODES = ("replicate", "reflect", "zeros")


class Upsampler(nn.Module):
    """The contract of every upsampling layer: ``(B, in_channels, T) -> (B, out_channels, factor * T)``.

    A kind subclasses this (first, before a torch layer it also is) and sets, in ``__init__``:

    Attributes:
        in_channels, out_channels: channel counts.
        factor: the integer upsampling factor.
        kernel_size: the kind's kernel length (an int), the one its options name.

    and implements :meth:`macs_per_input_sample`; :meth:`init_normal_` when its weights have a
    structure to keep (ICNR's tied phases); and, when the layer is a strided transposed
    convolution in disguise (resize, sub-pixel), :meth:`folded_kernel`, :meth:`folded_basis` and
    :meth:`weight_from_free` (what projecting a trained kernel onto the kind needs); the defaults
    say it is not. Code that needs a layer's cost or kernel asks the layer, not its class.

    Shape:
        Input: ``(B, in_channels, T)``. Output: ``(B, out_channels, factor * T)``.
    """

    # (no class-level annotations for those: TorchScript would read them as attribute types)

    # The reference kind (transposed): a generator gives it its own kernel length (HiFi-GAN's
    # ``upsample_kernel_sizes``), and the other kinds' gains are matched to it, it is left as drawn.
    REFERENCE = False

    def macs_per_input_sample(self) -> int:
        """Multiply-adds one forward spends per input sample (all channel pairs; biases aside)."""
        raise NotImplementedError(f"{type(self).__name__} does not say what its forward costs")

    @torch.no_grad()
    def init_normal_(self, std: float) -> None:
        """HiFi-GAN's initialisation, in place: weights ~ N(0, std), biases untouched."""
        self.weight.normal_(0.0, std)

    def folded_kernel(self) -> Optional[Tuple[Tensor, int]]:
        """``(kernel, start)``: the ``(in_channels, out_channels, L)`` kernel of the strided transposed
        convolution this layer computes, biases aside (a sub-pixel layer's differs per phase) and
        away from the edges (where padding may differ): input sample ``n``'s tap ``t`` lands on output
        sample ``factor * n + t - start``, so the output is
        ``conv_transpose1d(x, kernel, None, factor)[..., start:start + factor * T]`` when ``start >= 0``.
        From the current weights (weight norm included, differentiable). ``None``: no such form.
        """
        return None

    def folded_basis(self) -> Optional[Tuple[Tensor, int]]:
        """``(basis, start)``: the folded kernel as a linear map of the layer's free weights.

        ``basis`` is ``(J, L)`` float64: a channel pair's folded taps are ``free @ basis`` for its
        ``J`` free weights, tap ``t`` at ``t - start`` as in :meth:`folded_kernel`. The free weights
        may be fewer than the weights (sub-pixel with ICNR: one kernel for all phases).
        ``None``: the layer has no folded form.
        """
        return None

    def weight_from_free(self, free: Tensor) -> Tensor:
        """The layer's ``weight`` tensor whose free weights (:meth:`folded_basis`) are ``free``,
        ``(in_channels, out_channels, J)``."""
        raise NotImplementedError(f"{type(self).__name__} has no folded form")


def check_args(in_channels: int, out_channels: int, factor: int, kernel_size: int,
               min_kernel: int = 1) -> None:
    """Raise ``ValueError`` for arguments no upsampler accepts."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("factor", factor), ("kernel_size", kernel_size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if in_channels < 1 or out_channels < 1:
        raise ValueError(f"channels must be >= 1, got in_channels={in_channels}, out_channels={out_channels}")
    if factor < 1:
        raise ValueError(f"factor must be an integer >= 1, got {factor}")
    if kernel_size < min_kernel:
        raise ValueError(f"kernel_size {kernel_size} is too short: need at least {min_kernel} for factor {factor}")


def kernel_length(layer: nn.Module) -> int:
    """Kernel length of an upsampler or of any torch 1-D (transposed) convolution.

    audioup's upsamplers expose an int ``kernel_size``; torch's own ``nn.Conv1d`` /
    ``nn.ConvTranspose1d`` (in a loaded official model, say) keep a 1-tuple.
    """
    k = layer.kernel_size
    return int(k[0]) if isinstance(k, (tuple, list)) else int(k)


def check_pad_mode(pad_mode: str) -> str:
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    return pad_mode


def same_padding(kernel_size: int):
    """Left and right padding that keeps a stride-1 convolution's length."""
    left = (kernel_size - 1) // 2
    return left, kernel_size - 1 - left


def pad1d(x: Tensor, left: int, right: int, mode: str) -> Tensor:
    """Pad the last axis; ``reflect`` falls back to ``replicate`` when ``x`` is too short."""
    if left == 0 and right == 0:
        return x
    if mode == "zeros":
        return F.pad(x, (left, right))
    if mode == "reflect" and x.shape[-1] > max(left, right):
        return F.pad(x, (left, right), mode="reflect")
    return F.pad(x, (left, right), mode="replicate")


def init_conv_(weight: Tensor, bias, fan_in: int) -> None:
    """PyTorch's default Conv1d initialisation (Kaiming uniform, a=sqrt(5))."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(bias, -bound, bound)


def interleave(y: Tensor, factor: int) -> Tensor:
    """1D periodic shuffle: ``(B, C * factor, T)`` in ``(c, phase)`` order -> ``(B, C, factor * T)``."""
    batch, channels, length = y.shape
    out_channels = channels // factor
    return y.reshape(batch, out_channels, factor, length).transpose(2, 3).reshape(batch, out_channels, length * factor)


# ----------------------------------------------------------------------------- weight norm


def weight_norm(module: nn.Module) -> nn.Module:
    """Weight normalisation of ``module.weight`` over dim 0 (``torch.nn.utils.parametrizations``)."""
    return _parametrized_weight_norm(module)


def has_weight_norm(module: nn.Module) -> bool:
    """Whether ``module.weight`` is weight-normalised, hook-based (old ``weight_g``/``weight_v``) or parametrised."""
    return _hook_weight_norm(module) or parametrize.is_parametrized(module, "weight")


def _hook_weight_norm(module: nn.Module) -> bool:
    """``torch.nn.utils.weight_norm`` (deprecated hooks): ``weight_g`` and ``weight_v`` parameters."""
    return hasattr(module, "weight_g") and hasattr(module, "weight_v")


def effective_weight(module: nn.Module) -> Tensor:
    """The weight a layer computes with, also for hook-based weight norm (``g * v / ||v||`` over dim 0)."""
    if _hook_weight_norm(module):
        g, v = module.weight_g, module.weight_v
        return g * v / v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
    return module.weight


@torch.no_grad()
def set_weight_(module: nn.Module, weight: Tensor) -> None:
    """Make ``module`` compute with ``weight``: through weight norm's ``right_inverse`` when parametrised."""
    if parametrize.is_parametrized(module, "weight"):
        module.weight = weight.to(module.weight.dtype)
    else:
        module.weight.copy_(weight)


@torch.no_grad()
def scale_weight_(module: nn.Module, scale: float) -> None:
    """Multiply the weight ``module`` computes with by ``scale`` (the gain ``g`` under weight norm)."""
    if parametrize.is_parametrized(module, "weight"):
        module.parametrizations.weight.original0.mul_(scale)
    elif _hook_weight_norm(module):
        module.weight_g.mul_(scale)
    else:
        module.weight.mul_(scale)
