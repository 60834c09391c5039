"""Inference: checkpoint -> generator -> waveform, and ``audioup vocode``.

>>> voc = load_generator("runs/tiny")                      # doctest: +SKIP
>>> wav = voc(mel)              # (n_mels, N) -> (hop * N,)  # doctest: +SKIP
>>> voc.vocode_files(["speech/"], "out/")                  # doctest: +SKIP

:func:`load_generator` rebuilds the generator a training checkpoint describes
(``torch.load(weights_only=True)``), folds weight norm away and wraps it with
the same mel front end as in training in a :class:`Vocoder`. The command
takes WAV files or folders (analysis-synthesis through the mel front end) and
``.npy`` mels ``(n_mels, N)``, and writes one WAV per input at the model's rate;
inputs longer than :data:`CHUNK_FRAMES` frames are vocoded in overlapping chunks
(:meth:`Vocoder.vocode_long`) with the same result as in one piece.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .audio.io import AUDIO_EXTENSIONS, AudioError, audio_info, find_audio_files, load_audio, save_audio
from .audio.mel import MelSpectrogram
from .progress import progress_bar
from .models.checkpoint import CheckpointError, read_generator
from .models.registry import build_generator_from

MEL_EXTENSIONS = (".npy",)
CHUNK_FRAMES = 2048   # longer inputs (about 24 s at 22.05 kHz) are vocoded in overlapping chunks
MEL_MAX = 20.0        # a natural-log mel of audio in [-1, 1] stays below ~5; 1e30 is not a log-mel
MEL_MIN = -110.0      # below the natural log of the smallest float32 (-103); a log-mel's floor is ~-11.5


class Vocoder:
    """A generator and its mel front end, for inference.

    Attributes:
        generator: the network (eval mode, weight norm removed).
        mel: :class:`~audioup.audio.mel.MelSpectrogram` used in training.
        sample_rate, hop_length: of the generator's output.
        step: training step of the checkpoint.
    """

    def __init__(self, generator: nn.Module, mel: MelSpectrogram, device="cpu", step: int = 0):
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.mel = mel.to(self.device)
        self.sample_rate = int(mel.sample_rate)
        self.hop_length = int(mel.hop_length)
        self.n_mels = int(mel.n_mels)
        self.step = step
        # log-mel of digital silence: pads a batch of mels of different lengths
        self.silence = float(np.log(mel.clamp))
        self._context = None

    @torch.no_grad()
    def __call__(self, mel: Tensor) -> Tensor:
        """Log-mel ``(n_mels, N)`` or ``(B, n_mels, N)`` -> waveform ``(hop * N,)`` or ``(B, hop * N)``."""
        mel = torch.as_tensor(mel, dtype=torch.float32)
        single = mel.dim() == 2
        mel = mel.unsqueeze(0) if single else mel
        if mel.dim() != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(f"expected a mel of shape ({self.n_mels}, frames) or "
                             f"(B, {self.n_mels}, frames), got {tuple(mel.shape)}")
        wav = self.generator(mel.to(self.device)).squeeze(1).float().cpu()
        return wav[0] if single else wav

    @torch.no_grad()
    def wav_to_wav(self, wav: Tensor) -> Tensor:
        """Analysis-synthesis of ``(T,)`` or ``(B, T)`` audio at :attr:`sample_rate`; same length out.

        The input is zero-padded to a whole number of hops and the output cut back to ``T``.
        """
        wav = torch.as_tensor(wav, dtype=torch.float32)
        single = wav.dim() == 1
        wav = wav.unsqueeze(0) if single else wav
        out = self(self._analyse(wav))[..., :wav.shape[-1]]
        return out[0] if single else out

    @torch.no_grad()
    def _analyse(self, wav: Tensor) -> Tensor:
        """Log-mel of ``(B, T)`` audio zero-padded to a whole number of hops: ``(B, n_mels, ceil(T / hop))``."""
        padded = torch.nn.functional.pad(wav, (0, (-wav.shape[-1]) % self.hop_length))
        return self.mel(padded.to(self.device))

    def vocode_files(self, inputs: Sequence, out_dir, force: bool = False, batch_size: int = 8,
                     progress: bool = True, chunk_frames: int = CHUNK_FRAMES) -> "VocodeReport":
        """Vocode WAV files / folders and ``.npy`` mels into ``out_dir`` (one WAV per input).

        Inputs are sorted by length; short ones are batched (mels padded with silence,
        outputs cut back), each one longer than ``chunk_frames`` mel frames is vocoded on
        its own in overlapping chunks (:meth:`vocode_long`), so memory stays bounded
        whatever the length. Inputs are read one batch at a time. A file that cannot be
        read is reported and the others go on.

        Raises:
            FileExistsError: an output exists and ``force`` is false (nothing is written).
            ValueError: an output would replace an input (also with ``force``).
            OSError: writing failed (a full disk: ``errno.ENOSPC``); files written
                before are complete.
        """
        jobs = plan_outputs(inputs, out_dir)
        existing = [str(o) for _, o in jobs if o.exists()]
        if existing and not force:
            raise FileExistsError(f"{len(existing)} output file(s) already exist (first: {existing[0]}); "
                                  "use --force to overwrite")
        report = VocodeReport()
        sized = []
        for src, dst in jobs:
            try:
                sized.append((self._input_frames(src), src, dst))
            except (AudioError, ValueError) as exc:
                report.failed.append((src, str(exc)))
        sized.sort(key=lambda it: it[0])
        short = [it for it in sized if it[0] <= chunk_frames]
        long = [it for it in sized if it[0] > chunk_frames]
        bar = progress_bar(total=len(sized), desc="vocoding", unit="file", enabled=progress)
        for start in range(0, len(short), batch_size):
            batch = []
            for _, src, dst in short[start:start + batch_size]:
                try:
                    batch.append((src, dst, *self._load_input(src)))
                except (AudioError, ValueError) as exc:
                    report.failed.append((src, str(exc)))
            if batch:
                frames = max(it[2].shape[-1] for it in batch)
                mels = torch.full((len(batch), self.n_mels, frames), self.silence)
                for i, it in enumerate(batch):
                    mels[i, :, :it[2].shape[-1]] = it[2]
                wavs = self(mels)
                for (src, dst, _, length), wav in zip(batch, wavs):
                    save_audio(dst, wav[:length].numpy(), self.sample_rate)
                    report.written.append((src, dst))
            bar.update(len(short[start:start + batch_size]))
        for _, src, dst in long:
            try:
                wav = self._load_input(src, analyse=False)
            except (AudioError, ValueError) as exc:
                report.failed.append((src, str(exc)))
            else:
                save_audio(dst, self.vocode_long(*wav, chunk_frames=chunk_frames).numpy(), self.sample_rate)
                report.written.append((src, dst))
            bar.update(1)
        bar.close()
        return report

    @torch.no_grad()
    def vocode_long(self, source: Tensor, length: int, chunk_frames: int = CHUNK_FRAMES) -> Tensor:
        """Vocode one long input in overlapping chunks; the same result as in one piece.

        Each chunk of ``chunk_frames`` mel frames is extended on both sides by the
        generator's receptive field (:meth:`context_frames`), and for audio the mel is
        computed over a further ``n_fft`` samples, so every kept output sample sees
        exactly the inputs it would see in a whole-file pass (to float rounding). Memory
        is that of one chunk plus the input and the output.

        Args:
            source: a waveform ``(T,)`` at :attr:`sample_rate` or a log-mel ``(n_mels, N)``.
            length: output samples to return (``T`` for a waveform).

        Returns:
            ``(length,)`` float32 waveform.
        """
        if source.dim() == 1:
            wav, frames = source, -(-source.shape[-1] // self.hop_length)
        else:
            wav, frames = None, source.shape[-1]
        context = self.context_frames()
        margin = -(-self.mel.n_fft // self.hop_length)  # mel frames reaching past a chunk's samples
        hop = self.hop_length
        out = torch.empty(frames * hop)
        for s in range(0, frames, chunk_frames):
            e = min(frames, s + chunk_frames)
            fs, fe = max(0, s - context), min(frames, e + context)
            if wav is None:
                mel = source[:, fs:fe]
            else:
                lo, hi = max(0, fs - margin), min(frames, fe + margin)  # _analyse pads the last hop
                mel = self._analyse(wav[lo * hop:hi * hop].unsqueeze(0))[0, :, fs - lo:fe - lo]
            out[s * hop:e * hop] = self(mel)[(s - fs) * hop:(e - fs) * hop]
        return out[:length]

    def context_frames(self) -> int:
        """Mel frames on each side that change an output frame (the receptive field), measured once.

        The gradient of one output frame with respect to a random input shows which
        input frames it depends on; for the convolutional generators here that is a
        fixed window (a few dozen frames for HiFi-GAN V1).
        """
        if self._context is None:
            half = 32
            while True:
                reach = _receptive_field(self.generator, self.n_mels, self.hop_length, half, self.device)
                if reach < half - 1 or half >= 1024:
                    break
                half *= 2
            self._context = reach + 2
        return self._context

    def _input_frames(self, path: Path) -> int:
        """Mel frames an input gives, from its header alone (for ordering and chunking)."""
        if path.suffix.lower() in MEL_EXTENSIONS:
            return int(self._read_mel(path, mmap=True).shape[-1])
        info = audio_info(path)
        return -(-int(info.frames * self.sample_rate // max(info.samplerate, 1)) // self.hop_length)

    def _read_mel(self, path: Path, mmap: bool = False) -> np.ndarray:
        try:
            mel = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except Exception as exc:
            raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
        if mel.dtype.kind not in "fiu" or mel.dtype.names is not None:
            kind = "complex" if mel.dtype.kind == "c" else f"{mel.dtype}"
            raise ValueError(f"{path}: expected a real-valued (float) mel, got {kind} values")
        mel = mel[0] if mel.ndim == 3 and mel.shape[0] == 1 else mel
        if mel.ndim != 2 or mel.shape[0] != self.n_mels or mel.shape[1] < 1:
            raise ValueError(f"{path}: expected a mel of shape ({self.n_mels}, frames), "
                             f"got {tuple(mel.shape)}")
        return mel

    def _load_input(self, path: Path, analyse: bool = True) -> Tuple[Tensor, int]:
        """``(mel (n_mels, N), output length)`` for a WAV (analysis) or a ``.npy`` mel.

        With ``analyse=False`` a WAV is returned as samples ``(T,)`` instead of its mel.
        """
        if path.suffix.lower() in MEL_EXTENSIONS:
            mel = self._read_mel(path).astype(np.float32)
            if not np.isfinite(mel).all():
                raise ValueError(f"{path}: mel contains NaN or Inf values")
            if mel.max() > MEL_MAX:
                raise ValueError(f"{path}: mel values up to {mel.max():.3g}, far above a log-mel's "
                                 f"range (at most ~{MEL_MAX:g}; is it a linear or dB mel rather than "
                                 "a natural-log one?)")
            if mel.min() < MEL_MIN:
                raise ValueError(f"{path}: mel values down to {mel.min():.3g}, far below a log-mel's "
                                 f"floor ({self.silence:.3g} for digital silence; nothing below "
                                 f"{MEL_MIN:g} is the natural log of a float32)")
            return torch.from_numpy(mel), mel.shape[1] * self.hop_length
        wav = torch.from_numpy(load_audio(path, sample_rate=self.sample_rate).samples)
        if not analyse:
            return wav, wav.shape[-1]
        return self._analyse(wav.unsqueeze(0))[0].cpu(), wav.shape[-1]


def _receptive_field(generator: nn.Module, n_mels: int, hop: int, half: int, device) -> int:
    """Largest distance (in frames) from the middle frame of an input that its output frame depends on."""
    mel = torch.randn(1, n_mels, 2 * half + 1, device=device, requires_grad=True)
    with torch.enable_grad():
        out = generator(mel)
        out[..., half * hop:(half + 1) * hop].sum().backward()
    generator.zero_grad(set_to_none=True)
    used = (mel.grad[0].abs().sum(0) > 0).nonzero().flatten().cpu()
    return int((used - half).abs().max()) if used.numel() else 0


@dataclass
class VocodeReport:
    written: List[Tuple[Path, Path]] = field(default_factory=list)
    failed: List[Tuple[Path, str]] = field(default_factory=list)


def plan_outputs(inputs: Sequence, out_dir, extensions: Sequence[str] = AUDIO_EXTENSIONS + MEL_EXTENSIONS,
                 suffix: str = ".wav") -> List[Tuple[Path, Path]]:
    """``(input, output)`` pairs: a folder's files keep their relative path, files their name.

    ``extensions`` are the files taken from folders; outputs get ``suffix``
    (``audioup mel`` plans audio -> ``.npy`` with it).

    Raises:
        FileNotFoundError: a missing input; ValueError: no inputs or two inputs with one output name.
    """
    out_dir = Path(out_dir)
    jobs: List[Tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = find_audio_files([p], extensions)
            jobs.extend((f, (out_dir / f.relative_to(p)).with_suffix(suffix)) for f in files)
        elif p.exists():
            jobs.append((p, out_dir / (p.stem + suffix)))
        else:
            try:
                find_audio_files([p])  # says why: missing, a dangling link or a link loop
            except AudioError as exc:
                raise FileNotFoundError(str(exc)) from None
    if not jobs:
        raise ValueError("no audio (.wav, .flac, ...) or mel (.npy) files in the inputs")
    seen = {}
    for src, dst in jobs:
        if dst in seen:
            raise ValueError(f"{seen[dst]} and {src} would both be written to {dst}")
        seen[dst] = src
    by_inode = {_inode(src): src for src, _ in jobs}
    for src, dst in jobs:
        same = by_inode.get(_inode(dst)) if dst.exists() else None
        if same is not None:
            raise ValueError(f"{dst}: the output would replace the input {same}; choose another --out "
                             "(--force never overwrites an input)")
    return jobs


def _inode(path: Path) -> Tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def load_generator(checkpoint, device="cpu", config=None) -> Vocoder:
    """Load a :class:`Vocoder` from a checkpoint file, a run folder or a pretrained name.

    Args:
        checkpoint: an audioup checkpoint or run folder (its newest checkpoint), an official
            HiFi-GAN generator file (``{"generator": ...}`` with ``weight_g``/``weight_v`` keys),
            or ``pretrained:hifigan-universal`` / ``pretrained:hifigan-ljspeech``.
        config: the official file's ``config.json`` (default: the one beside it); its mel
            settings become the vocoder's front end.

    Raises:
        audioup.models.checkpoint.CheckpointError: missing, corrupt or foreign file, missing
            config, weights that do not fit the config, or pretrained weights not installed.
    """
    data = read_generator(checkpoint, config=config)
    check_finite_weights(data["generator"], data.get("path", checkpoint))
    return build_vocoder(data["generator_config"], data["mel"], data["generator"], device=device,
                         step=int(data["step"]))


def check_finite_weights(state: dict, path) -> None:
    """Raise :class:`CheckpointError` naming ``path`` and a tensor when a weight is NaN or Inf.

    A damaged file (a flipped bit in the tensor data: torch does not check the zip CRC)
    loads without error, and its generator writes full-scale noise.
    """
    bad = [key for key, value in state.items()
           if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        more = f" and {len(bad) - 1} more tensor(s)" if len(bad) > 1 else ""
        raise CheckpointError(f"{path}: non-finite weights (NaN or Inf) in {bad[0]}{more}; the file is "
                              "damaged, its generator would write noise (use an earlier checkpoint)")


def build_vocoder(generator_config: dict, mel_settings: dict, state_dict=None, device="cpu",
                  step: int = 0) -> Vocoder:
    """A :class:`Vocoder` from a checkpoint's ``generator_config`` and ``mel`` settings.

    Args:
        generator_config: ``{"name", "kwargs"}`` (:func:`audioup.models.registry.generator_config`).
        mel_settings: arguments of :class:`~audioup.audio.mel.MelSpectrogram`.
        state_dict: generator weights; ``None`` keeps the freshly initialised ones.
    """
    generator = build_generator_from(generator_config, weights_follow=state_dict is not None)
    if state_dict is not None:
        generator.load_state_dict(state_dict)
    generator.remove_weight_norm()
    return Vocoder(generator, MelSpectrogram(**mel_settings), device=device, step=step)
