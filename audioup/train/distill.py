"""Recovery fine-tune of a converted vocoder against the original: distillation on real speech.

``audioup convert --budget-minutes M`` calls :func:`distill`. The converted generator (the
student) learns to make what the original (the teacher) makes from the same mel of real
speech: multi-resolution STFT distance + log-mel L1 + waveform L1 between the two outputs.
No discriminator is needed (official checkpoints carry none), and the target is
well-posed: both networks are deterministic functions of the same mel, so the student can
match the teacher's phase, which it could not learn from the recording.

The teacher's output holds the very lines the conversion removes, and a student that
keeps a transposed layer upstream (or whose nonlinearities fold a remaining comb up)
can rebuild them when told to copy it: fine-tuned against the plain teacher, V1
Universal with only its last layer replaced got its 11025 Hz line back (+1 to +11 dB
over the real recording in 20 minutes). So the loss does not look at the lines: both
outputs lose the bands around the replaced layers' predicted lines (``settings.lines_hz``,
:func:`without_lines`) before they are compared, and nothing asks the student for a line.
(Filling those bands with the real recording's spectrum instead asks for a phase the
student cannot know; on V1 that wrecked the fine-tune, PESQ 2.68 -> 1.75 in 20 minutes.)

Only the converted part learns. Everything before the first converted layer is the
teacher's own and stays frozen, so its activations are computed once per step for both
networks (:func:`frozen_prefix`), and the weights outside the converted stages stay
exactly the released ones.

The run is bounded by wall time (``budget_s``, counted across resumes) and ``max_steps``.
Every ``save_every_s`` seconds and at the end it writes an ordinary audioup checkpoint
(atomic), holding the optimizer state and the elapsed time too; killed at any point it
resumes from the newest one exactly: batches are drawn from a generator seeded by the step,
so an interrupted run and an uninterrupted one take the same steps (bit-identical weights
at the same thread count).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..audio.io import AudioError, find_audio_files, load_audio
from ..audio.mel import MelSpectrogram
from ..models.checkpoint import checkpoint_path, list_checkpoints
from ..models.hifigan import HiFiGAN, run_stages
from ..models.istftnet import ISTFTNet
from ..models.losses import MultiResolutionSTFTLoss
from ..models.registry import build_generator_from
from ..progress import progress_bar
from .checkpoint import save_checkpoint


UPSAMPLER_LR_SCALE = 0.1  # the replaced upsamplers learn at this fraction of the learning rate
FRESH_LR_SCALE = 10.0  # untrained parameters (``DistillSettings.fresh``: an iSTFT head) learn this much faster
LINE_MARGIN_DB = 3.0  # the line penalty starts this far above the recording's own prominence there
LINE_FRAME = 4096  # Welch frame of the line penalty's spectrum (5.4 Hz bins at 22.05 kHz)
TOP_EDGE_HZ = 250.0  # width of the raised-cosine edge below ``DistillSettings.top_hz``
# The conversion's default ``top_hz`` is this far below the Nyquist frequency (10 kHz at 22.05 kHz):
# V1 Universal, layers 1-3, 20 min: mean line +9.6 -> +1.9 dB, worst +18.2 -> +7.5, PESQ 2.66 -> 2.60.
TOP_BAND_HZ = 1025.0
WAVE_WEIGHT = 10.0  # the waveform L1 term's weight beside the STFT and mel terms (as HiFi-GAN weighs mel)
LINE_RING_HZ = (10.0, 40.0)  # a line's neighbourhood: bins this far from it (inside the 86 Hz grid of V1)


@dataclass
class DistillSettings:
    """How the recovery fine-tune runs (recorded in each checkpoint it writes).

    Attributes:
        budget_s: wall-time budget in seconds (summed over resumes).
        max_steps: upper bound on steps (0: only the budget).
        batch_size, segment: segments per step and samples per segment (a multiple of the hop).
        lr: AdamW learning rate (betas 0.8, 0.99 as HiFi-GAN).
        first_layer: index of the first converted upsampler; the stages from it on learn.
        seed: seeds the batch draws (step ``n`` draws with ``seed + n``).
        save_every_s: seconds between checkpoints.
        threads: torch threads (``None``: leave as is).
        lines_hz: the replaced layers' predicted line frequencies; the loss leaves out the
            bands within ``notch_hz`` of each (:func:`without_lines`).
        notch_hz: half-width of each of those bands (0: the loss sees the lines).
        top_hz: the loss also leaves out everything above this (0: nothing). The original's
            Nyquist line is modulated by the speech, so its sidebands stand outside any narrow
            notch; copying them, the student grew the line back through its last layer.
        penalty_hz: every predicted line of the original (all layers' rates); the student's
            own prominence there, beyond the recording's, is penalised (:func:`line_excess_db`).
        line_weight: the penalty's gradient at the output is at most this fraction of the
            distillation's (0: no penalty; see :meth:`Distiller.step`).
        wave_weight: weight of the waveform L1 term beside the STFT and mel terms (0: magnitudes
            only, so the student may take its own phase).
        fresh: name prefixes of parameters that start untrained (the output head of a
            HiFi-GAN converted to an iSTFT generator); they learn at ``FRESH_LR_SCALE`` times ``lr``.
    """

    budget_s: float
    max_steps: int = 0
    batch_size: int = 4
    segment: int = 8192
    lr: float = 5e-5
    first_layer: int = 0
    seed: int = 1234
    save_every_s: float = 60.0
    threads: Optional[int] = None
    data: List[str] = field(default_factory=list)
    lines_hz: List[float] = field(default_factory=list)
    notch_hz: float = 30.0
    top_hz: float = 0.0
    penalty_hz: List[float] = field(default_factory=list)
    line_weight: float = 0.0
    wave_weight: float = WAVE_WEIGHT
    fresh: List[str] = field(default_factory=list)

    def identity(self) -> Dict[str, Any]:
        """What must match to resume: everything but the budget, step bound, threads and save cadence."""
        return {"batch_size": self.batch_size, "segment": self.segment, "lr": self.lr,
                "first_layer": self.first_layer, "seed": self.seed, "data": list(self.data),
                "lines_hz": [float(f) for f in self.lines_hz], "notch_hz": float(self.notch_hz),
                "top_hz": float(self.top_hz),
                "upsampler_lr_scale": UPSAMPLER_LR_SCALE,
                "penalty_hz": [float(f) for f in self.penalty_hz], "line_weight": float(self.line_weight),
                "line_margin_db": LINE_MARGIN_DB, "wave_weight": float(self.wave_weight),
                **({"fresh": list(self.fresh), "fresh_lr_scale": FRESH_LR_SCALE} if self.fresh else {})}


def predicted_lines(input_rates_hz: Sequence[float], sample_rate: int) -> List[float]:
    """Every multiple of each rate up to the Nyquist frequency: where those layers put lines."""
    lines = set()
    for rate in input_rates_hz:
        k = 1
        while k * rate <= sample_rate / 2 + 1e-6:
            lines.add(round(k * rate, 6))
            k += 1
    return sorted(lines)


def notched_lines(input_rates_hz: Sequence[float], sample_rate: int, notch_hz: float) -> List[float]:
    """The lines the loss leaves out: :func:`predicted_lines` of the rates at least ``4 * notch_hz``
    apart. A denser grid stays in the loss: notches every 86 Hz (V1's first layer) would leave
    most of the spectrum unsupervised, and there the student learned noise (V1 Universal, all four
    layers, notches narrowed to fit: PESQ 1.79 -> 1.35 in 20 minutes while mel L1 fell)."""
    return predicted_lines([r for r in input_rates_hz if r >= 4 * notch_hz], sample_rate) if notch_hz > 0 else []


def line_band_mask(length: int, sample_rate: int, lines_hz: Sequence[float], notch_hz: float,
                   top_hz: float = 0.0) -> Tensor:
    """``(length // 2 + 1,)`` weights over rFFT bins: 1 within ``notch_hz`` of a line, a raised-cosine
    edge ``notch_hz`` wide, 0 elsewhere; with ``top_hz > 0`` also 1 from ``top_hz`` up, after a
    raised-cosine edge ``TOP_EDGE_HZ`` wide."""
    freqs = torch.fft.rfftfreq(length, 1.0 / sample_rate)
    mask = torch.zeros_like(freqs)
    for f in lines_hz if notch_hz > 0 else ():
        d = (freqs - f).abs()
        edge = 0.5 * (1 + torch.cos(torch.pi * ((d - notch_hz) / notch_hz).clamp(0, 1)))
        mask = torch.maximum(mask, edge)
    if top_hz > 0:
        edge = 0.5 * (1 + torch.cos(torch.pi * ((top_hz - freqs) / TOP_EDGE_HZ).clamp(0, 1)))
        mask = torch.maximum(mask, edge)
    return mask


def without_lines(wave: Tensor, mask: Tensor) -> Tensor:
    """``wave`` ``(B, T)`` with the rFFT bins weighted by ``1 - mask`` (:func:`line_band_mask`): the
    lines' bands taken out."""
    return torch.fft.irfft(torch.fft.rfft(wave, dim=-1) * (1 - mask), n=wave.shape[-1], dim=-1)


class LineProminence(nn.Module):
    """Each line's prominence (dB) in the batch's mean power spectrum (Welch: Hann frames of
    :data:`LINE_FRAME` samples, half overlapping): the power of the three bins around it over
    its neighbourhood's mean (bins :data:`LINE_RING_HZ` away, other lines' bins left out).
    Differentiable; the ``(L,)`` result follows ``lines_hz``. A stationary line at +20 dB reads
    about +20; noise about 0 (4 segments of 8192: under +3 dB at every V1 grid line)."""

    def __init__(self, length: int, sample_rate: int, lines_hz: Sequence[float]):
        super().__init__()
        self.frame = min(LINE_FRAME, length)
        freqs = torch.fft.rfftfreq(self.frame, 1.0 / sample_rate)
        step = float(freqs[1])
        lines = torch.tensor([float(f) for f in lines_hz], dtype=freqs.dtype)
        centre = (lines / step).round().long()
        self.register_buffer("bins", (centre.unsqueeze(1) + torch.arange(-1, 2)).clamp(0, len(freqs) - 1))
        d = (freqs.unsqueeze(0) - lines.unsqueeze(1)).abs()
        ring = (d >= LINE_RING_HZ[0]) & (d <= LINE_RING_HZ[1]) & ~(d < 2 * step).any(0, keepdim=True)
        ring = ring.to(freqs.dtype)
        self.register_buffer("ring", ring / ring.sum(1, keepdim=True).clamp(min=1))
        self.register_buffer("window", torch.hann_window(self.frame, dtype=freqs.dtype))

    def forward(self, wave: Tensor) -> Tensor:
        spec = torch.stft(wave, self.frame, self.frame // 2, window=self.window.to(wave.dtype), center=False,
                          return_complex=True)
        power = spec.abs().pow(2).mean(dim=(0, 2))
        line = power[self.bins].mean(1)
        floor = self.ring.to(power.dtype) @ power
        return 10 * torch.log10((line + 1e-12) / (floor + 1e-12))


def line_excess_db(student: Tensor, real: Tensor, prominence: LineProminence) -> Tensor:
    """Sum over lines of how far the student's prominence stands above the recording's (clipped at
    0) plus :data:`LINE_MARGIN_DB`, in units of 10 dB: 0 when no line stands out more than the
    recording lets it."""
    with torch.no_grad():
        allowed = prominence(real).clamp(min=0) + LINE_MARGIN_DB
    return F.relu(prominence(student) - allowed).sum() / 10.0


def load_training_audio(paths: Sequence, sample_rate: int, max_seconds: float = 3600.0,
                        min_samples: int = 8192, log: Callable[[str], Any] = print) -> List[np.ndarray]:
    """Real recordings for the fine-tune, at ``sample_rate``, up to ``max_seconds`` in all.

    Unreadable and too-short files are reported and skipped.

    Raises:
        ValueError: no usable file.
    """
    try:
        files = find_audio_files(paths)
    except AudioError as exc:
        raise ValueError(str(exc)) from None
    clips, total, skipped = [], 0, 0
    for path in files:
        try:
            audio = load_audio(path, sample_rate=sample_rate, min_samples=min_samples)
        except AudioError as exc:
            skipped += 1
            log(f"skipping training file {exc}")
            continue
        clips.append(audio.samples.astype(np.float32))
        total += len(audio.samples)
        if total >= max_seconds * sample_rate:
            break
    if not clips:
        raise ValueError("no usable training audio in " + ", ".join(str(p) for p in paths))
    return clips


def draw_batch(clips: Sequence[np.ndarray], batch_size: int, segment: int, seed: int) -> Tensor:
    """``(batch_size, segment)`` segments at random places, longer clips drawn more often (seeded).

    Segments are scaled to a random peak in [0.3, 0.95] so that the student sees the levels
    people vocode at, not only one recording's.
    """
    gen = np.random.default_rng(seed)
    lengths = np.array([len(c) for c in clips], dtype=np.float64)
    picks = gen.choice(len(clips), size=batch_size, p=lengths / lengths.sum())
    out = np.zeros((batch_size, segment), dtype=np.float32)
    for row, i in enumerate(picks):
        clip = clips[i]
        start = int(gen.integers(0, max(1, len(clip) - segment + 1)))
        piece = clip[start:start + segment]
        peak = float(np.abs(piece).max()) or 1.0
        out[row, :len(piece)] = piece * (gen.uniform(0.3, 0.95) / peak)
    return torch.from_numpy(out)


def frozen_prefix(generator: nn.Module, mel: Tensor, first_layer: int) -> Tensor:
    """What a HiFi-GAN-style generator feeds ``upsamplers[first_layer]`` (before its activation)."""
    return run_stages(generator, generator.conv_pre(mel), 0, first_layer)


def from_layer(generator: nn.Module, x: Tensor, first_layer: int) -> Tensor:
    """The rest of the forward pass from :func:`frozen_prefix`'s output: the waveform ``(B, 1, T)``."""
    return generator.waveform(run_stages(generator, x, first_layer))


def _shares_prefix(generator: nn.Module) -> bool:
    """A generator whose stages run as :func:`frozen_prefix` and :func:`from_layer` take them
    (HiFi-GAN's order: LeakyReLU, upsampler, residual blocks), whatever makes its waveform."""
    return isinstance(generator, (HiFiGAN, ISTFTNet))


class Distiller:
    """Teacher, student and their loss; :meth:`step` runs one update."""

    def __init__(self, teacher: nn.Module, student: nn.Module, mel: MelSpectrogram, first_layer: int, lr: float,
                 lines_hz: Sequence[float] = (), notch_hz: float = 30.0, penalty_hz: Sequence[float] = (),
                 line_weight: float = 0.0, top_hz: float = 0.0, wave_weight: float = WAVE_WEIGHT,
                 fresh: Sequence[str] = ()):
        self.teacher, self.student, self.mel, self.first = teacher.eval(), student, mel, first_layer
        self.wave_weight = wave_weight
        self.lines_hz, self.notch_hz, self.top_hz = list(lines_hz), notch_hz, top_hz
        self.penalty_hz, self.line_weight = list(penalty_hz), line_weight
        self._masks: Dict[int, Tensor] = {}
        self._prominence: Dict[int, LineProminence] = {}
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.trainable = []
        for name, p in student.named_parameters():
            learn = not _is_prefix(name, first_layer)
            p.requires_grad_(learn)
            if learn:
                self.trainable.append(p)
        # Adam moves every weight by about lr per step whatever its size; a projected resize kernel
        # spreads the trained one over many taps (V1's second x8 layer at 65 taps: mean |w| 0.002),
        # so at the MRFs' rate it is rewritten within a few steps (the loss doubled in 5 steps).
        ups = {id(p) for name, p in student.named_parameters() if name.startswith("upsamplers.")}
        new = {id(p) for name, p in student.named_parameters() if fresh and name.startswith(tuple(fresh))}
        groups = [{"params": [p for p in self.trainable if id(p) not in ups | new], "lr": lr},
                  {"params": [p for p in self.trainable if id(p) in ups], "lr": lr * UPSAMPLER_LR_SCALE},
                  {"params": [p for p in self.trainable if id(p) in new], "lr": lr * FRESH_LR_SCALE}]
        self.optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.8, 0.99),
                                           weight_decay=0.0)
        self.stft = MultiResolutionSTFTLoss()
        self.shared = _shares_prefix(student) and _shares_prefix(teacher)

    def outputs(self, wav: Tensor) -> Tuple[Tensor, Tensor]:
        """The student's output (with its graph) and the teacher's, ``(B, T)`` each, from ``wav``'s mel."""
        mel = self.mel(wav)
        with torch.no_grad():
            if self.shared:
                x = frozen_prefix(self.teacher, mel, self.first)
                target = from_layer(self.teacher, x, self.first)
            else:
                target = self.teacher(mel)
        out = from_layer(self.student, x, self.first) if self.shared else self.student(mel)
        return out.squeeze(1), target.squeeze(1)

    def losses(self, wav: Tensor, out: Optional[Tensor] = None, target: Optional[Tensor] = None
               ) -> Dict[str, Tensor]:
        """The distillation terms (and ``lines``, the penalty, when asked) for one batch."""
        if out is None:
            out, target = self.outputs(wav)
        n = out.shape[-1]
        parts: Dict[str, Tensor] = {}
        if self.penalty_hz and self.line_weight > 0:
            if n not in self._prominence:
                self._prominence[n] = LineProminence(n, self.mel.sample_rate, self.penalty_hz)
            parts["lines"] = line_excess_db(out, wav[..., :n], self._prominence[n])
        if (self.lines_hz and self.notch_hz > 0) or self.top_hz > 0:
            if n not in self._masks:
                self._masks[n] = line_band_mask(n, self.mel.sample_rate, self.lines_hz, self.notch_hz, self.top_hz)
            out, target = without_lines(out, self._masks[n]), without_lines(target, self._masks[n])
        return {"stft": self.stft(out, target), "mel": F.l1_loss(self.mel(out), self.mel(target)),
                "wave": F.l1_loss(out, target), **parts}

    def step(self, wav: Tensor) -> Dict[str, float]:
        """One update. The line penalty's gradient is taken at the output and scaled to at most
        ``line_weight`` times the distillation's there before both go back through the network
        once: its log-ratio gradient grows as a quiet band's power shrinks, and added to the loss
        it took the whole clipped step (V1 Universal: PESQ 2.84 -> 2.25 in 300 steps)."""
        self.student.train()
        out, target = self.outputs(wav)
        parts = self.losses(wav, out, target)
        loss = parts["stft"] + parts["mel"] + self.wave_weight * parts["wave"]
        if not torch.isfinite(loss) or ("lines" in parts and not torch.isfinite(parts["lines"])):
            raise FloatingPointError("non-finite distillation loss")
        self.optimizer.zero_grad(set_to_none=True)
        grad = torch.autograd.grad(loss, out, retain_graph="lines" in parts)[0]
        if "lines" in parts and parts["lines"] > 0:
            pull = torch.autograd.grad(parts["lines"], out)[0]
            grad = grad + pull * min(1.0, self.line_weight * float(grad.norm()) / max(float(pull.norm()), 1e-30))
        out.backward(grad)
        torch.nn.utils.clip_grad_norm_(self.trainable, 10.0)
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in parts.items()}


def _is_prefix(name: str, first_layer: int) -> bool:
    """Parameters that run before ``upsamplers[first_layer]``: ``conv_pre`` and earlier stages."""
    if name.startswith("conv_pre."):
        return True
    for group in ("upsamplers.", "mrfs."):
        if name.startswith(group):
            return int(name[len(group):].split(".")[0]) < first_layer
    return False


def distill(teacher_source: Dict[str, Any], run_dir, settings: DistillSettings, clips: Sequence[np.ndarray],
            progress: bool = True, log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """Fine-tune the newest checkpoint in ``run_dir`` against ``teacher_source`` within the budget.

    Args:
        teacher_source: the original generator (:func:`audioup.models.checkpoint.read_generator`).
        run_dir: a converted run (``audioup convert``): its newest checkpoint is the start, or the
            point to resume from when it was written by this function with the same settings.
        settings: see :class:`DistillSettings`.
        clips: real recordings at the model's rate (:func:`load_training_audio`).

    Returns:
        ``{"steps", "elapsed_s", "path", "losses"}`` of the newest checkpoint (the last losses logged).

    Raises:
        ValueError: the newest checkpoint was distilled with other settings (start over with --force).
    """
    if settings.threads:
        torch.set_num_threads(settings.threads)
    newest = list_checkpoints(run_dir)[-1][1]
    state = torch.load(newest, map_location="cpu", weights_only=True)
    previous = state.get("distill")
    if previous is not None and previous.get("identity") != settings.identity():
        raise ValueError(f"{newest}: fine-tuned with other settings ({previous.get('identity')}); "
                         "use --force to start over")
    teacher = build_generator_from(teacher_source["generator_config"])
    teacher.load_state_dict(teacher_source["generator"])
    student = build_generator_from(state["generator_config"])
    student.load_state_dict(state["generator"])
    mel = MelSpectrogram(**state["mel"])
    if settings.segment % mel.hop_length:
        raise ValueError(f"segment {settings.segment} must be a multiple of the hop {mel.hop_length}")
    work = Distiller(teacher, student, mel, settings.first_layer, settings.lr, settings.lines_hz, settings.notch_hz,
                     settings.penalty_hz, settings.line_weight, settings.top_hz, settings.wave_weight,
                     settings.fresh)
    step, elapsed = int(state.get("step", 0)), 0.0
    if previous is not None:
        work.optimizer.load_state_dict(state["optimizer"])
        elapsed = float(previous["elapsed_s"])
    first_step = step
    last: Dict[str, float] = dict(previous.get("losses", {})) if previous else {}
    start, saved_at = time.monotonic() - elapsed, time.monotonic()
    total = settings.max_steps or None
    bar = progress_bar(total=total, initial=step, enabled=progress, desc="fine-tune", unit="step")
    path = newest
    try:
        while (settings.max_steps <= 0 or step < settings.max_steps) and time.monotonic() - start < settings.budget_s:
            wav = draw_batch(clips, settings.batch_size, settings.segment, settings.seed + step)
            last = work.step(wav)
            step += 1
            bar.update(1)
            bar.set_postfix(stft=f"{last['stft']:.3f}", mel=f"{last['mel']:.3f}",
                            left=f"{max(0.0, settings.budget_s - (time.monotonic() - start)) / 60:.1f}min")
            if time.monotonic() - saved_at >= settings.save_every_s:
                path = _save(run_dir, state, student, work, step, time.monotonic() - start, settings, last)
                saved_at = time.monotonic()
    finally:
        bar.close()
    if step != first_step:
        path = _save(run_dir, state, student, work, step, time.monotonic() - start, settings, last)
    log(f"fine-tune: {step} steps in {(time.monotonic() - start) / 60:.1f} min; "
        + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))
    return {"steps": step, "elapsed_s": time.monotonic() - start, "path": str(path), "losses": last}


def _save(run_dir, state, student, work: Distiller, step: int, elapsed: float, settings: DistillSettings,
          losses: Dict[str, float]) -> Path:
    """An ordinary checkpoint at ``step`` plus the fine-tune's state; older fine-tune checkpoints go."""
    payload = {k: v for k, v in state.items() if k not in ("generator", "optimizer", "distill", "step")}
    payload.update(step=step, generator=student.state_dict(), optimizer=work.optimizer.state_dict(),
                   distill={"identity": settings.identity(), "elapsed_s": float(elapsed), "losses": dict(losses)})
    path = save_checkpoint(payload, checkpoint_path(run_dir, step))
    for old_step, old in list_checkpoints(run_dir):
        if 0 < old_step < step:  # step 0 (the projection alone) stays, for the report and a restart
            old.unlink(missing_ok=True)
    return path
