"""The training loop: one generic GAN vocoder trainer, variants chosen by the config.

Read top to bottom: :func:`train` finds the newest good checkpoint in ``run_dir``,
sets up (devices, data, models, optimizers), resumes from that checkpoint (or starts
from ``init_from`` weights), then repeats :func:`~.step.train_step`, and every N steps
:func:`validate` and :func:`~.state.save`. All mutable training state lives in
:class:`~.state.State`, which is exactly what a checkpoint holds (:mod:`.state`).

The step (:mod:`.step`) is HiFi-GAN's: the discriminators learn on real vs detached generated
audio (least squares), then the generator learns from the adversarial loss,
feature matching (x2) and mel L1 (x45). AdamW and an exponential learning-rate
decay per epoch, with the scheduler state saved, so a resumed run continues the
same schedule. A non-finite loss stops the run, naming the step; the last good
checkpoint is untouched.

Resuming checks that the run folder's checkpoint fits the config: the generator, the
discriminators (names and ``model.discriminator_kwargs``) and the mel front end (part of the
model) must be the same, or the run is refused. Optimizer settings changed since
(``optim.lr``, ``betas``, ``weight_decay``, ``lr_decay``) are applied, and logged: a new
``optim.lr`` becomes the schedule's base, the decay already done is kept.

Speed: a step never waits for the device. Losses stay on it and :class:`~.step.LossMonitor`
checks and fetches them at log, validation and checkpoint steps only; gradient
clipping and AdamW (fused) run without host syncs.
``train.channels_last`` and ``train.compile`` are opt-in (:mod:`.speed`).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import torch
import yaml
from torch import Tensor
from torch.nn.utils import parametrize

from ..audio.fs import atomic_write
from ..models.losses import mel_l1_loss
from ..progress import progress_bar
from . import distributed as D
from .checkpoint import CheckpointError, checkpoint_path, load_newest, run_lock, save_checkpoint
from .config import ConfigError, TrainConfig, to_dict
from .finetune import converted_spec, load_init
from .resume import mel_differences
from .setup import Context, build_context, build_data, generator_config, mel_settings
from .speed import apply_speed_options, cpu_threads, cudnn_autotune
from .state import State, TrainingError, new_state, restore, save
from .step import LossMonitor, discriminator_step, train_step


def train(cfg: TrainConfig, init_from: Optional[str] = None, log: Callable[[str], Any] = print) -> Path:
    """Train until ``cfg.max_steps``; returns the run folder.

    Resumes automatically from the newest loadable checkpoint in ``cfg.run_dir``;
    ``init_from`` (a checkpoint or run folder) starts a new run from its weights only.

    Raises:
        TrainingError, CheckpointError, audioup.data.DataError, ConfigError.
    """
    try:  # before joining a process group: a missing GPU is a setting, not a crash
        D.resolve_device(cfg.train.device)
    except RuntimeError as exc:
        raise ConfigError(f"train.device={cfg.train.device}: {exc}; use train.device=cpu or auto") from None
    if cfg.train.clock == "cpu" and cfg.train.max_minutes > 0 and D.resolve_device(cfg.train.device).type != "cpu":
        raise ConfigError("train.clock=cpu counts this process's CPU time, which says nothing of a GPU's "
                          "work; use train.clock=wall on a GPU")
    with cpu_threads(cfg.train.threads):
        info, device = D.setup(cfg.train.device)
        try:
            with run_lock(cfg.run_dir, enabled=info.is_main, log=log), cudnn_autotune(device):
                return _train(cfg, info, device, init_from, log if info.is_main else (lambda *_: None))
        finally:
            D.cleanup()


def _train(cfg, info, device, init_from, log) -> Path:
    run_dir = Path(cfg.run_dir).resolve()
    init_from = init_from or cfg.init_from
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    # Which weights the run starts from is known before the models are built: a generator
    # whose weights are loaded next skips the level calibration of its upsamplers (about 4 s
    # of CPU for V1, see benchmarks/RESULTS.md). A folder without a usable checkpoint starts
    # afresh, calibrated exactly as a new run.
    checkpoint = load_newest(run_dir, map_location="cpu", log=log, quarantine=info.is_main)
    D.barrier()  # rank 0 may have renamed corrupt checkpoints
    if init_from:  # also on a resume: the run's generator is the converted one
        cfg = _adopt_converted(cfg, init_from, log)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts them)
    ctx = build_context(cfg, device, info, log, fresh=checkpoint is None and not init_from)
    apply_speed_options(ctx)
    state = new_state(cfg, ctx)
    resumed = _resume_or_init(state, ctx, checkpoint, init_from, log)
    if info.is_main:  # only once the settings are known to fit the run folder's checkpoints
        _write_config(cfg, run_dir)
    # every rank draws its own segments; rank 0 keeps the saved (or seeded) random state
    if info.rank > 0:
        torch.manual_seed(cfg.seed + 1000 * info.rank + state.step)

    loader, sampler, batches = build_data(cfg, ctx, log)
    steps_per_epoch = len(batches)
    if state.step >= cfg.max_steps or _out_of_time(state, ctx):
        log(f"nothing to do: step {state.step} >= max_steps {cfg.max_steps}" if state.step >= cfg.max_steps
            else f"nothing to do: {state.train_seconds / 60:.1f} min trained >= train.max_minutes "
                 f"{cfg.train.max_minutes:g}")
        return run_dir
    last_saved = _run_steps(state, ctx, run_dir, epochs(loader, sampler, batches, state.step, steps_per_epoch),
                            steps_per_epoch, last_saved=state.step if resumed else -1, log=log)
    if cfg.train.write_rank_states:
        rank_file = run_dir / "ranks" / f"rank{info.rank}.pt"
        rank_file.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(D.unwrap(state.generator).state_dict(), rank_file)
    log(f"finished at step {state.step}; checkpoint {checkpoint_path(run_dir, last_saved)}")
    return run_dir


def _adopt_converted(cfg: TrainConfig, init_from, log) -> TrainConfig:
    """A converted ``init_from`` of the config's kinds keeps its own layers (kernels, kept layers)."""
    try:
        spec = converted_spec(init_from, generator_config(cfg))
    except CheckpointError as exc:
        raise TrainingError(str(exc)) from None
    if spec is None:
        return cfg
    log(f"note: {init_from} was converted layer by layer; the run trains its upsamplers as they are ({spec})")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, upsampler=spec))


def _resume_or_init(state: State, ctx: Context, resumed: Optional[dict], init_from: Optional[str], log) -> bool:
    """Restore the run folder's newest good checkpoint ``resumed`` (``True``), else ``init_from``'s weights."""
    if resumed is not None:
        differ = mel_differences(resumed["mel"], mel_settings(ctx.cfg))
        if differ:
            raise TrainingError(f"{resumed['path']}: the config's mel settings differ from the checkpoint's ("
                                + "; ".join(differ) + "): the mel front end is part of the model, so a "
                                "resumed run keeps it; put the settings back or use another run_dir")
        restore(state, resumed, ctx, full=True, log=log)
        log(f"resuming from {resumed['path']} (step {state.step})")
        if init_from:
            log(f"note: --init-from {init_from} ignored, the run folder already has checkpoints")
        return True
    if init_from:
        try:
            source = load_init(init_from, ctx.generator_config, log)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        differ = mel_differences(source["mel"], mel_settings(ctx.cfg))
        if differ:
            log(f"note: fine-tuning {init_from} with other mel settings than it was trained on ("
                + "; ".join(differ) + ")")
        restore(state, source, ctx, full=False, log=log)
        log(f"initialised weights from {init_from} (step {source['step']}); training from step 0")
    return False


def _run_steps(state: State, ctx: Context, run_dir: Path, batches: Iterator[Tensor], steps_per_epoch: int,
               last_saved: int, log) -> int:
    """Step until ``max_steps``, logging, validating and saving at their intervals; the last saved step."""
    cfg, info = ctx.cfg, ctx.info
    writer = _writer(run_dir) if info.is_main else None
    progress = _progress(cfg, info, state.step)
    monitor = LossMonitor(state.step)
    t0, steps_done = time.perf_counter(), 0
    timer = _budget_timer(cfg)
    clock = timer()  # training time counts from here; validation and saving move it on uncounted
    try:
        for batch in batches:
            # the first train.discriminator_warmup steps train the discriminators alone (fine-tuning)
            step = discriminator_step if state.step < cfg.train.discriminator_warmup else train_step
            monitor.update(state.step + 1, step(state, batch, ctx))
            state.step += 1
            steps_done += 1
            now = timer()
            state.train_seconds, clock = state.train_seconds + now - clock, now
            out_of_time = _out_of_time(state, ctx)
            if state.step % steps_per_epoch == 0:  # epoch boundary: decay the learning rate
                state.sched_g.step()
                state.sched_d.step()
            if progress is not None:
                progress.update(1)
            validating = state.step % cfg.train.validation_interval == 0
            saving = state.step % cfg.train.checkpoint_interval == 0 or state.step >= cfg.max_steps or out_of_time
            if state.step % cfg.train.log_interval == 0 or validating or saving:
                losses = monitor.check(state.step)  # host sync; raises on a non-finite loss
                rate = steps_done / max(time.perf_counter() - t0, 1e-9)
                _log_scalars(writer, progress, state, losses, rate, log if info.is_main else None)
            if validating and info.is_main:
                metrics = validate(state, ctx, writer)
                log(f"step {state.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
            if saving:
                if info.is_main:
                    save(state, ctx, run_dir, cfg.train.keep_last)
                last_saved = state.step
                D.barrier()
            if state.step >= cfg.max_steps or out_of_time:
                if out_of_time:
                    log(f"train.max_minutes {cfg.train.max_minutes:g} reached at step {state.step}")
                break
            clock = timer()
    finally:
        if progress is not None:
            progress.close()
        if writer is not None:
            writer.close()
    return last_saved


def _budget_timer(cfg: TrainConfig) -> Callable[[], float]:
    """What ``train.max_minutes`` counts: wall time, or with ``train.clock=cpu`` this process's
    CPU time over its threads, which other processes on a shared machine do not eat into (the
    same budget for every kind of a comparison, whatever else runs)."""
    if cfg.train.clock == "wall":
        return time.perf_counter
    threads = max(1, torch.get_num_threads())
    return lambda: time.process_time() / threads


def _out_of_time(state: State, ctx: Context) -> bool:
    """Whether ``train.max_minutes`` is spent; under torchrun every rank takes rank 0's answer,
    so that all stop at the same step."""
    budget = 60.0 * ctx.cfg.train.max_minutes
    spent = budget > 0 and state.train_seconds >= budget
    if budget > 0 and ctx.info.enabled:
        spent = bool(D.broadcast_from_main(torch.tensor([float(spent)], device=ctx.device)).item())
    return spent


# ----------------------------------------------------------------------------- data


def epochs(loader, sampler, batches, start_step: int, steps_per_epoch: int) -> Iterator[Tensor]:
    """Endless batches, epoch after epoch, starting where ``start_step`` left off."""
    epoch, skip = divmod(start_step, steps_per_epoch)
    while True:
        sampler.set_epoch(epoch)
        batches.skip = skip
        yield from loader
        epoch, skip = epoch + 1, 0


# ----------------------------------------------------------------------------- validation


@torch.no_grad()
def validate(state: State, ctx: Context, writer=None) -> Dict[str, float]:
    """Mel L1, multi-resolution STFT distance and tonal score of the generator on held-out audio."""
    generator = D.unwrap(state.generator)
    generator.eval()
    totals: Dict[str, list] = {}
    try:
        with parametrize.cached():  # weight norm computed once for all clips, not per call
            for i, wav in enumerate(ctx.valid_audio):
                real = wav.to(ctx.device).view(1, 1, -1)
                fake = generator(ctx.mel(real)).float()
                scores = {"val/mel_l1": mel_l1_loss(ctx.loss_mel(fake), ctx.loss_mel(real)).item()}
                scores.update(ctx.extra_metrics(fake.view(-1).cpu(), real.view(-1).cpu()))
                for k, v in scores.items():
                    totals.setdefault(k, []).append(v)
                if writer is not None and i < ctx.n_logged_samples:
                    _log_audio(writer, f"sample_{i}", fake, real, ctx, state.step)
    finally:
        generator.train()
    means = {k: float(sum(v) / len(v)) for k, v in totals.items()}
    if writer is not None:
        for k, v in means.items():
            writer.add_scalar(k, v, state.step)
    return means


def _log_audio(writer, tag: str, fake: Tensor, real: Tensor, ctx: Context, step: int) -> None:
    sr = ctx.cfg.sample_rate
    writer.add_audio(f"{tag}/generated", fake.view(-1).cpu(), step, sample_rate=sr)
    writer.add_image(f"{tag}/mel_generated", _mel_image(ctx.mel(fake)), step)
    if step <= ctx.cfg.train.validation_interval:  # the real audio once, at the first validation
        writer.add_audio(f"{tag}/real", real.view(-1).cpu(), step, sample_rate=sr)
        writer.add_image(f"{tag}/mel_real", _mel_image(ctx.mel(real)), step)


def _mel_image(mel: Tensor) -> Tensor:
    """``(1, n_mels, N)`` log-mel -> ``(1, n_mels, N)`` image in [0, 1], low frequencies at the bottom."""
    m = mel[0].float().cpu().flip(0)
    return ((m - m.min()) / (m.max() - m.min()).clamp(min=1e-8)).unsqueeze(0)


# ----------------------------------------------------------------------------- logging


def _writer(run_dir: Path):
    from torch.utils.tensorboard import SummaryWriter  # ~0.3 s to import: only the process that logs

    return SummaryWriter(str(run_dir / "logs"))


def _progress(cfg: TrainConfig, info, start: int):
    if not (cfg.train.progress and info.is_main):
        return None
    return progress_bar(total=cfg.max_steps, initial=start, unit="step", desc="training", dynamic_ncols=True)


def _log_scalars(writer, progress, state: State, losses: Dict[str, float], rate: float, log=None) -> None:
    """The losses to TensorBoard, and to the bar on a terminal or as one ``log`` line when no bar is drawn."""
    if progress is not None and not progress.disable:
        progress.set_postfix({"g": f"{losses['g/total']:.3f}", "d": f"{losses['d/total']:.3f}",
                              "mel": f"{losses['g/mel_l1']:.3f}"}, refresh=False)
    elif log is not None:  # off a terminal (a log file, a pipe) or train.progress=false
        log(f"step {state.step}: g {losses['g/total']:.4g}, d {losses['d/total']:.4g}, "
            f"mel_l1 {losses['g/mel_l1']:.4g}, {rate:.3g} steps/s")
    if writer is None:
        return
    for k, v in losses.items():
        writer.add_scalar(k, v, state.step)
    writer.add_scalar("lr", state.optim_g.param_groups[0]["lr"], state.step)
    writer.add_scalar("steps_per_second", rate, state.step)


def _write_config(cfg: TrainConfig, run_dir: Path) -> None:
    atomic_write(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
