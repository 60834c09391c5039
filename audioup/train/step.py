"""One training step, and the watch over its losses.

- :func:`train_step`: HiFi-GAN's step: the discriminators learn on real vs detached generated
  audio (least squares), then the generator from the adversarial loss, feature matching and
  mel L1 (and the MR-STFT distance when configured), with the loss weights of ``cfg.loss``.
- :func:`discriminator_step`: the discriminators alone (``train.discriminator_warmup``).
- :class:`LossMonitor`: keeps the losses on the device and checks them every few steps.

Nothing here waits for the device: the losses and gradient norms come back as 0-d device
tensors, and only :meth:`LossMonitor.check` fetches them.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor, nn

from ..models.losses import (discriminator_loss, feature_matching_loss, generator_adversarial_loss,
                             mel_l1_loss)
from . import distributed as D
from .setup import Context
from .state import State, TrainingError


def train_step(state: State, batch: Tensor, ctx: Context) -> Dict[str, Tensor]:
    """One discriminator update and one generator update on a batch of segments ``(B, T)``.

    Returns the detached losses and gradient norms as 0-d tensors on the device: nothing
    here waits for the device (no ``.item()``, no finiteness test); :class:`LossMonitor`
    checks and fetches them every few steps.
    """
    w = ctx.cfg.loss
    real = batch.to(ctx.device, non_blocking=True).unsqueeze(1)
    with torch.no_grad():
        mel_in = ctx.mel(real)
        mel_real = ctx.loss_mel(real)
    with ctx.autocast():
        fake = state.generator(mel_in)
        logits, _ = state.discriminator(torch.cat([real, fake.detach()]))
        loss_d = discriminator_loss(*_halves(logits))
    state.optim_d.zero_grad(set_to_none=True)
    grad_d = _backward_and_step(state, loss_d, state.optim_d, state.discriminator, ctx)

    # The generator's update back-propagates through D but never uses D's weight gradients
    # (D's next update starts from zero_grad): freezing D skips computing them (and, under
    # DDP, calling the bare module skips all-reducing them). The losses are the same.
    disc = D.unwrap(state.discriminator)
    disc.requires_grad_(False)
    try:
        with ctx.autocast():
            logits, features = disc(torch.cat([real, fake]))
            adversarial = generator_adversarial_loss(_halves(logits)[1])
            real_f, fake_f = zip(*[_halves(f) for f in features]) if features else ((), ())
            matching = feature_matching_loss([list(f) for f in real_f], [list(f) for f in fake_f])
        mel = mel_l1_loss(ctx.loss_mel(fake.float()), mel_real)
        loss_g = w.adversarial * adversarial + w.feature_matching * matching + w.mel * mel
        terms = {"g/adversarial": adversarial, "g/feature_matching": matching, "g/mel_l1": mel}
        if ctx.mrstft is not None:
            terms["g/mrstft"] = ctx.mrstft(fake.float(), real)
            loss_g = loss_g + w.mrstft * terms["g/mrstft"]
        state.optim_g.zero_grad(set_to_none=True)
        grad_g = _backward_and_step(state, loss_g, state.optim_g, state.generator, ctx)
    finally:
        disc.requires_grad_(True)
    state.scaler.update()

    values = torch.stack([loss_d.detach().float(), loss_g.detach().float()]
                         + [t.detach().float() for t in terms.values()] + [grad_d, grad_g])
    names = ["d/total", "g/total", *terms, "grad_norm/discriminator", "grad_norm/generator"]
    return dict(zip(names, values.unbind()))


def discriminator_step(state: State, batch: Tensor, ctx: Context) -> Dict[str, Tensor]:
    """Update the discriminators on real vs generated audio; the generator is not trained.

    Args:
        state, batch, ctx: as for :func:`train_step`.

    Returns the same keys as ``train_step``, as 0-d tensors on the device (the loop's
    loss monitor checks finiteness): the generator's mel L1 measured without gradients,
    its adversarial terms and gradient norm reported as 0.
    """
    w = ctx.cfg.loss
    real = batch.to(ctx.device, non_blocking=True).unsqueeze(1)
    with torch.no_grad():
        mel_in, mel_real = ctx.mel(real), ctx.loss_mel(real)
        with ctx.autocast():
            fake = state.generator(mel_in)
    with ctx.autocast():
        logits, _ = state.discriminator(torch.cat([real, fake]))
        loss_d = discriminator_loss(*_halves(logits))
    state.optim_d.zero_grad(set_to_none=True)
    grad_d = _backward_and_step(state, loss_d, state.optim_d, state.discriminator, ctx)
    state.scaler.update()
    with torch.no_grad():
        mel = mel_l1_loss(ctx.loss_mel(fake.float()), mel_real).float()
    zero = torch.zeros((), device=mel.device)
    return {"d/total": loss_d.detach().float(), "g/total": w.mel * mel, "g/adversarial": zero,
            "g/feature_matching": zero, "g/mel_l1": mel,
            "grad_norm/discriminator": grad_d, "grad_norm/generator": zero}


def _halves(tensors):
    """Split every tensor of a list along the batch into its real and generated halves."""
    real, fake = [], []
    for t in tensors:
        r, f = t.chunk(2, dim=0)
        real.append(r)
        fake.append(f)
    return real, fake


def _backward_and_step(state: State, loss: Tensor, optim, module: nn.Module, ctx: Context) -> Tensor:
    """Backward, unscale (fp16), clip and step; the gradient norm stays on the device (no sync)."""
    state.scaler.scale(loss).backward()
    state.scaler.unscale_(optim)
    clip = ctx.cfg.optim.grad_clip
    params = [p for p in module.parameters() if p.grad is not None]
    group = optim.param_groups[0]
    foreach = bool(group.get("foreach") or group.get("fused"))  # per tensor only with for-loop
    if clip:
        norm = torch.nn.utils.clip_grad_norm_(params, clip, foreach=foreach)
    else:  # the norm is only logged: no rescaling of every gradient by 1
        norm = torch.nn.utils.get_total_norm([p.grad for p in params], foreach=foreach)
    state.scaler.step(optim)
    return norm.detach().float()


class LossMonitor:
    """Keeps each step's losses on the device and looks at them on the host every few steps.

    :meth:`update` (every step) records, without waiting for the device, the first step
    at which each total loss was non-finite. :meth:`check` (at log, validation and
    checkpoint steps: the only host syncs of the loop) fetches the last step's values and
    raises :class:`TrainingError` naming that step and the steps since the previous
    check, so a run never validates or saves weights a non-finite loss has touched.
    """

    WATCHED = ("d/total", "g/total")
    LABELS = ("discriminator", "generator")

    def __init__(self, step: int):
        self.checked = step
        self.last: Optional[Dict[str, Tensor]] = None
        self.first_bad: Optional[Tensor] = None   # per watched loss: first non-finite step, 0 = none

    def update(self, step: int, losses: Dict[str, Tensor]) -> None:
        totals = torch.stack([losses[k] for k in self.WATCHED])
        if self.first_bad is None:
            self.first_bad = torch.zeros(len(self.WATCHED), dtype=torch.long, device=totals.device)
        new = (self.first_bad == 0) & ~torch.isfinite(totals)
        self.first_bad = torch.where(new, step, self.first_bad)
        self.last = losses

    def check(self, step: int) -> Dict[str, float]:
        """The last step's values (averaged over ranks); raises if a loss was non-finite."""
        if self.last is None:
            return {}
        first_bad = D.all_reduce_min(torch.where(self.first_bad == 0, step + 1, self.first_bad))
        values = D.all_reduce_mean(torch.stack(list(self.last.values())).float())
        fetched = torch.cat([first_bad.double(), values.double()]).tolist()  # the one host sync
        bad, values = fetched[:len(self.WATCHED)], fetched[len(self.WATCHED):]
        since = self.checked + 1
        self.checked = step
        if min(bad) <= step:
            at = int(min(bad))
            name = self.LABELS[bad.index(min(bad))]
            span = f"steps {since}-{step}" if step > since else f"step {step}"
            raise TrainingError(
                f"non-finite {name} loss at step {at} (found checking {span}); stopping. "
                "The last good checkpoint is kept; lower optim.lr or use precision=fp32.")
        return dict(zip(self.last, values))
