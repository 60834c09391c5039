"""Fine-tuning: start a run from trained weights, and let fresh discriminators catch up first.

- :func:`load_init`: ``--init-from`` (or the config's ``init_from``) for any source
  :func:`audioup.models.checkpoint.read_generator` reads: an audioup checkpoint or run
  folder, a converted run (``audioup convert``), an official HiFi-GAN file or
  ``pretrained:NAME``. When the run's generator differs from the source only in its
  upsampler, the source is converted on the fly (least-squares projection, as
  ``audioup convert`` does).
- :func:`discriminator_step`: a step of the discriminators alone with the generator frozen
  (``train.discriminator_warmup`` steps at the start of a run). Official checkpoints carry no
  discriminator weights; a generator trained against fresh discriminators first learns from
  their noise, so they get a head start on the fixed generator.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

import torch
from torch import Tensor

from ..models.checkpoint import read_generator
from ..models.convert import convert_generator
from ..models.losses import discriminator_loss, mel_l1_loss


def _without_upsampler(config: Dict[str, Any]) -> Dict[str, Any]:
    return {"name": config["name"], "kwargs": {k: v for k, v in config["kwargs"].items() if k != "upsampler"}}


def load_init(init_from, generator_config: Dict[str, Any], log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """The checkpoint dict ``restore(..., full=False)`` takes, converted to the run's upsampler if needed.

    Raises:
        audioup.models.checkpoint.CheckpointError: unreadable source.
        ValueError: the source's generator differs in more than the upsampler.
    """
    source = read_generator(init_from)
    if source["generator_config"] == generator_config:
        return source
    if _without_upsampler(source["generator_config"]) != _without_upsampler(generator_config):
        raise ValueError(f"{init_from}: its generator {source['generator_config']} differs from the "
                         f"config's {generator_config} in more than the upsampler")
    config, state, swaps = convert_generator(source, generator_config["kwargs"]["upsampler"])
    log(f"converted {init_from} to {config['kwargs']['upsampler']}: residual energy per layer "
        + ", ".join(f"{100 * s.residual_energy:.1f}%" for s in swaps))
    return {**{k: v for k, v in source.items() if k not in ("discriminator", "discriminators")},
            "generator_config": config, "generator": state}


def discriminator_step(state, batch, ctx) -> Dict[str, Tensor]:
    """Update the discriminators on real vs generated audio; the generator is not trained.

    Args:
        state, batch, ctx: as for :func:`audioup.train.loop.train_step`.

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
        real_logits, fake_logits = zip(*[t.chunk(2, dim=0) for t in logits])
        loss_d = discriminator_loss(list(real_logits), list(fake_logits))
    state.optim_d.zero_grad(set_to_none=True)
    state.scaler.scale(loss_d).backward()
    state.scaler.unscale_(state.optim_d)
    clip = ctx.cfg.optim.grad_clip
    grad_d = torch.nn.utils.clip_grad_norm_(state.discriminator.parameters(), clip if clip else float("inf"))
    state.scaler.step(state.optim_d)
    state.scaler.update()
    with torch.no_grad():
        mel = mel_l1_loss(ctx.loss_mel(fake.float()), mel_real).float()
    zero = torch.zeros((), device=mel.device)
    return {"d/total": loss_d.detach().float(), "g/total": w.mel * mel, "g/adversarial": zero,
            "g/feature_matching": zero, "g/mel_l1": mel,
            "grad_norm/discriminator": grad_d.detach().float(), "grad_norm/generator": zero}
