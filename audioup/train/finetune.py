"""Fine-tuning: start a run from trained weights, and let fresh discriminators catch up first.

- :func:`load_init`: ``--init-from`` (or the config's ``init_from``) for any source
  :func:`audioup.models.checkpoint.read_generator` reads: an audioup checkpoint or run
  folder, a converted run (``audioup convert``), an official HiFi-GAN file or
  ``pretrained:NAME``. When the run's generator differs from the source only in its
  upsampler, the source is converted on the fly (least-squares projection, as
  ``audioup convert`` does).
- the discriminators' head start (``train.discriminator_warmup`` steps at the start of a run)
  is :func:`audioup.train.step.discriminator_step`, beside the training step whose parts it
  uses. Official checkpoints carry no discriminator weights; a generator trained against
  fresh discriminators first learns from their noise, so they get a head start on the fixed
  generator.
"""
from __future__ import annotations

from typing import Any, Callable, Dict


from ..models.checkpoint import read_generator
from ..layers import upsampler_label
from ..models.convert import convert_generator
from ..models.upsampling import layer_specs


def _without_upsampler(config: Dict[str, Any]) -> Dict[str, Any]:
    return {"name": config["name"], "kwargs": {k: v for k, v in config["kwargs"].items() if k != "upsampler"}}


def converted_spec(init_from, generator_config: Dict[str, Any]):
    """The source's own upsampler spec when it is already the run's kinds, layer by layer.

    ``audioup convert`` gives each replaced layer its own kernel length (and may keep some
    layers transposed); a recipe asking for ``model.upsampler: resize-nearest`` then means
    "this converted generator", not a fresh projection of it. ``None`` when the source's
    stack differs in its kinds (it is converted on the fly by :func:`load_init`) or in more
    than the upsampler.
    """
    source = read_generator(init_from)
    ours, theirs = generator_config["kwargs"], source["generator_config"]["kwargs"]
    if _without_upsampler(source["generator_config"]) != _without_upsampler(generator_config):
        return None
    factors = ours.get("upsample_factors") or (8, 8, 2, 2)
    if stack_labels(ours.get("upsampler"), len(factors)) != stack_labels(theirs.get("upsampler"), len(factors)):
        return None
    return None if theirs.get("upsampler") == ours.get("upsampler") else theirs.get("upsampler")


def stack_labels(spec, layers: int):
    return [upsampler_label(s) for s in layer_specs(spec, layers)]


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
