"""Training: typed config, the generic GAN training loop, checkpoints, torchrun support.

- :mod:`.config`: dataclasses read from YAML recipes (``extends``, ``key=value`` overrides).
- :mod:`.setup`: data checks, models, mel front ends and losses for a run (:class:`Context`).
- :mod:`.loop`: :func:`train` with :class:`State`, ``train_step`` / ``validate`` / ``save``.
- :mod:`.speed`: AdamW implementation, channels-last, torch.compile (same math, faster).
- :mod:`.profiling`: ops, kernels and host syncs per training step (torch.profiler).
- :mod:`.checkpoint`: atomic checkpoints, keep-last-N, resume from the newest good one.
- :mod:`.distributed`: process group and DDP under ``torchrun``.
- :mod:`.cli`: ``audioup train CONFIG [key=value ...] [--init-from CKPT]``.
"""
from .config import ConfigError, TrainConfig, load_config


def train(cfg, init_from=None, log=print):
    """See :func:`audioup.train.loop.train` (imported on first use)."""
    from .loop import train as _train

    return _train(cfg, init_from=init_from, log=log)


__all__ = ["ConfigError", "TrainConfig", "load_config", "train"]
