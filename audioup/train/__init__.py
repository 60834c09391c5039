"""Training: typed config, the generic GAN training loop, checkpoints, torchrun support.

- :mod:`.config`: dataclasses read from YAML recipes (``extends``, ``key=value`` overrides).
- :mod:`.recipe_yaml`: reading the YAML files (UTF-8, no aliases, bounded size) and overrides.
- :mod:`.setup`: data checks, models, mel front ends and losses for a run (:class:`Context`).
- :mod:`.loop`: :func:`train` with :class:`State`, ``train_step`` / ``validate`` / ``save``.
- :mod:`.speed`: AdamW implementation, channels-last, torch.compile (same math, faster).
- :mod:`.profiling`: ops, kernels and host syncs per training step (torch.profiler).
- :mod:`.checkpoint`: atomic checkpoints, keep-last-N, resume from the newest good one, the run lock.
- :mod:`.resume`: what a resumed run may change (optimizer settings) and what it may not (the model).
- :mod:`.distributed`: process group and DDP under ``torchrun``.
"""
from .config import ConfigError, TrainConfig, load_config
from .loop import train


__all__ = ["ConfigError", "TrainConfig", "load_config", "train"]
