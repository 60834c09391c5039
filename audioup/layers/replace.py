"""Swap every ``nn.ConvTranspose1d`` of a model for another upsampler kind.

With ``init="project"`` a trained model keeps as much of each kernel as the new kind can
represent (:mod:`.project`): the new layer starts at the least-squares closest tied kernel,
and each :class:`Replacement` reports the residual energy that was dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from .base import has_weight_norm, kernel_length, weight_norm
from .project import project_layer
from .registry import UpsamplerSpec, build_upsampler, upsampler_class

INITS = (None, "project")


@dataclass
class Replacement:
    """One swap made by :func:`replace_upsamplers`."""

    name: str
    old: str
    new: str
    length_offset: int  # output samples beyond factor * T that the old layer made (and the new keeps)
    weight_norm: bool
    residual_energy: Optional[float] = None  # init="project": share of the old kernel's energy dropped


class MatchLength(nn.Module):
    """Wraps an upsampler so its output is ``factor * T + offset`` long, like the layer it replaced.

    A positive ``offset`` repeats the last sample; a negative one trims.
    """

    def __init__(self, upsampler: nn.Module, offset: int):
        super().__init__()
        self.upsampler = upsampler
        self.offset = offset

    def forward(self, x: Tensor) -> Tensor:
        y = self.upsampler(x)
        if self.offset > 0:
            y = F.pad(y, (0, self.offset), mode="replicate")
        elif self.offset < 0:
            y = y[:, :, :y.shape[-1] + self.offset]
        return y


def _length_offset(conv: nn.ConvTranspose1d) -> int:
    """``L_out - stride * T`` of a ConvTranspose1d (independent of T)."""
    k, s, p = kernel_length(conv), conv.stride[0], conv.padding[0]
    d, op = conv.dilation[0], conv.output_padding[0]
    return d * (k - 1) + op + 1 - 2 * p - s


def replace_upsamplers(model: nn.Module, kind: UpsamplerSpec, init: Optional[str] = None,
                       **options: Any) -> List[Replacement]:
    """Replace, in place, every ``nn.ConvTranspose1d`` in ``model`` by ``kind``.

    Also finds transposed convolutions wrapped by ``torch.nn.utils.weight_norm``
    or ``torch.nn.utils.parametrizations.weight_norm``; the new layer gets
    (parametrized) weight norm too. Channels and factor (the stride) are kept,
    and so is each output length: a layer that made ``stride * T + n`` samples
    is replaced by one that makes the same (see :class:`MatchLength`).

    Args:
        model: any ``nn.Module``.
        kind: upsampler kind or spec (see :func:`build_upsampler`).
        init: ``None``: the new layers keep their fresh initialisation; ``"project"``:
            each starts at the least-squares closest kernel to the trained one
            (:func:`audioup.layers.project.project_layer`; resize, sinc and transposed
            kinds) and its bias.
        **options: passed to :func:`build_upsampler`. With ``kind="transposed"``
            the old kernel size is kept unless ``kernel_size`` is given.

    Returns:
        The swaps made, in module order.

    Raises:
        ValueError: a grouped or dilated transposed convolution (no equivalent), an
            unknown ``init``, or ``init="project"`` onto a kind without a folded form.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    reference = upsampler_class(kind).REFERENCE  # (an unknown kind raises here, before any change)
    targets = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, nn.ConvTranspose1d)]
    for name, old in targets:  # check all before changing any
        if old.groups != 1 or old.dilation[0] != 1:
            what = f"grouped (groups={old.groups})" if old.groups != 1 else f"dilated (dilation={old.dilation[0]})"
            raise ValueError(f"{name}: {what} ConvTranspose1d cannot be replaced (no equivalent upsampler)")
    done: List[Replacement] = []
    built = []  # every new layer is built (and projected) before the model is changed
    for name, old in targets:
        opts = dict(options)
        if reference and "kernel_size" not in opts:
            opts["kernel_size"] = max(kernel_length(old), old.stride[0])
        opts.setdefault("bias", old.bias is not None)
        new: nn.Module = build_upsampler(kind, old.in_channels, old.out_channels, old.stride[0], **opts)
        new = new.to(device=next(old.parameters()).device, dtype=next(old.parameters()).dtype)
        wn = has_weight_norm(old)
        if wn:
            new = weight_norm(new)
        residual = project_layer(old, new).residual_energy if init == "project" else None
        offset = _length_offset(old)
        if offset != 0:
            new = MatchLength(new, offset)
        built.append((name, new))
        done.append(Replacement(name, _describe(old), _describe(new), offset, wn, residual))
    for name, new in built:
        _set_submodule(model, name, new)
    return done


def _describe(module: nn.Module) -> str:
    if isinstance(module, MatchLength):
        return f"MatchLength({_describe(module.upsampler)}, offset={module.offset})"
    text = f"{type(module).__name__}({module.extra_repr()})"
    return text.replace("Parametrized", "")


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    if not name:
        raise ValueError("the model itself is a ConvTranspose1d; build an upsampler directly instead")
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
