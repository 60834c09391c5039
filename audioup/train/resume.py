"""What a resumed run may change and what it may not.

The model is the generator, the discriminators and the mel front end: a checkpoint
whose weights do not fit the config's (:func:`fits`) or whose mel settings differ
(:func:`mel_differences`) is refused by :func:`audioup.train.state.restore`'s caller. The
optimizer settings are the user's to change between runs: :func:`apply_optim_settings`
applies them over the restored state and logs what changed.
"""
from __future__ import annotations

from typing import Any, Dict

from torch import nn

from .config import OptimConfig


def fits(module: nn.Module, saved: Dict[str, Any]) -> bool:
    """Whether ``saved`` has exactly ``module``'s state keys and shapes."""
    ref = module.state_dict()
    return set(ref) == set(saved) and all(tuple(saved[k].shape) == tuple(v.shape) for k, v in ref.items())


def mel_differences(saved: Dict[str, Any], current: Dict[str, Any]) -> list:
    """``"mel.KEY is A in the config but B in the checkpoint"`` for each differing mel setting."""
    out = []
    for key, value in current.items():
        if key not in saved:
            continue
        old = saved[key]
        same = old == value if old is None or value is None else float(old) == float(value)
        if not same:
            name = key if key == "sample_rate" else f"mel.{key}"
            out.append(f"{name} is {value} in the config but {old} in the checkpoint")
    return out


def apply_optim_settings(pairs, o: OptimConfig, log) -> None:
    """Apply the config's optimizer settings over those a resumed checkpoint restored.

    A changed ``optim.lr`` becomes the base of the schedule: the current rate is scaled by
    ``new / old``, so the decay already done is kept. ``betas``, ``weight_decay`` and
    ``lr_decay`` are set as the config says. Each change is logged; with no change
    nothing is touched (an exact resume).

    Args:
        pairs: ``(optimizer, ExponentialLR scheduler)`` pairs, as restored from the checkpoint.
        o: the config's optimizer settings.
        log: where the line listing the changes goes.
    """
    changes = []
    for optim, sched in pairs:
        for i, group in enumerate(optim.param_groups):
            base = sched.base_lrs[i]
            if base != o.lr:
                group["lr"] = group["lr"] * (o.lr / base)
                group["initial_lr"] = o.lr
                changes.append(f"optim.lr {base:g} -> {o.lr:g} (now {group['lr']:.4g} after the decay so far)")
            if tuple(group["betas"]) != tuple(o.betas):
                changes.append(f"optim.betas {tuple(group['betas'])} -> {tuple(o.betas)}")
                group["betas"] = tuple(o.betas)
            if group["weight_decay"] != o.weight_decay:
                changes.append(f"optim.weight_decay {group['weight_decay']:g} -> {o.weight_decay:g}")
                group["weight_decay"] = o.weight_decay
        if sched.gamma != o.lr_decay:
            changes.append(f"optim.lr_decay {sched.gamma:g} -> {o.lr_decay:g}")
            sched.gamma = o.lr_decay
        sched.base_lrs = [g["initial_lr"] for g in optim.param_groups]
        sched._last_lr = [g["lr"] for g in optim.param_groups]
    if changes:
        unique = list(dict.fromkeys(changes))
        log("applying the config's optimizer settings over the checkpoint's: " + "; ".join(unique))
