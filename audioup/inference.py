"""Inference: checkpoint -> generator -> waveform, and ``audioup vocode``.

>>> voc = load_generator("runs/tiny")                      # doctest: +SKIP
>>> wav = voc(mel)              # (n_mels, N) -> (hop * N,)  # doctest: +SKIP
>>> voc.vocode_files(["speech/"], "out/")                  # doctest: +SKIP

:func:`load_generator` rebuilds the generator a training checkpoint describes
(``torch.load(weights_only=True)``), folds weight norm away and wraps it with
the same mel front end as in training in a :class:`Vocoder`. The command
takes WAV files or folders (analysis-synthesis through the mel front end) and
``.npy`` mels ``(n_mels, N)``, and writes one WAV per input at the model's rate;
inputs longer than :data:`CHUNK_FRAMES` frames are streamed (:meth:`Vocoder.write_long`):
read in blocks, vocoded in overlapping chunks with the same result as in one piece
(:meth:`Vocoder.stream`) and written block by block, in memory that does not grow with
the length. A checkpoint's settings and weights are checked before use
(:func:`check_settings`, :func:`check_finite_weights`); :func:`load_clip` reads a clip that
a command holds whole, refusing a long one from its header.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .audio.io import AUDIO_EXTENSIONS, AudioError, AudioStream, audio_info, find_audio_files, load_audio
from .audio.write import save_audio, write_audio
from .audio.mel import MelSpectrogram
from .progress import progress_bar
from .models.checkpoint import read_generator
from .models.registry import build_generator_from
from .models.upsampling import calibrate_levels_

MEL_EXTENSIONS = (".npy",)
MAX_CLIP_SECONDS = 60.0  # a clip analysed or scored whole, in memory (analyze --mel-from, convert --test)
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
        its own, streamed in overlapping chunks (:meth:`write_long`), so memory stays bounded
        whatever the length. Inputs are read one batch at a time. A file that cannot be
        read is reported and the others go on, and so is an input whose output name an
        input given before it already has (``speech.wav`` and ``mels/speech.npy``).

        Raises:
            FileExistsError: an output exists and ``force`` is false (nothing is written).
            ValueError: an output would replace an input (also with ``force``).
            OSError: writing failed (a full disk: ``errno.ENOSPC``); files written
                before are complete.
        """
        report = VocodeReport()
        jobs = plan_outputs(inputs, out_dir, clashes=report.failed)
        existing = [str(o) for _, o in jobs if o.exists()]
        if existing and not force:
            raise FileExistsError(f"{len(existing)} output file(s) already exist (first: {existing[0]}); "
                                  "use --force to overwrite")
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
                self.write_long(src, dst, chunk_frames=chunk_frames)
            except (AudioError, ValueError) as exc:
                report.failed.append((src, str(exc)))
            else:
                report.written.append((src, dst))
            bar.update(1)
        bar.close()
        return report

    def write_long(self, src: Path, dst: Path, chunk_frames: int = CHUNK_FRAMES) -> Path:
        """Vocode one WAV or ``.npy`` file into ``dst`` in bounded memory.

        The input is streamed (:class:`~audioup.audio.io.AudioStream`; a ``.npy`` mel is
        memory-mapped and checked first), vocoded chunk by chunk (:meth:`stream`) and the
        output encoded block by block into a temporary file renamed at the end
        (:func:`~audioup.audio.write.write_audio`): memory is one chunk's, whatever the length,
        and a failure half-way (a NaN in the audio, a full disk) leaves no partial output.

        Raises:
            AudioError, ValueError: a bad input (nothing is written); OSError: writing failed.
        """
        src = Path(src)
        if src.suffix.lower() in MEL_EXTENSIONS:
            mel = self._read_mel(src, mmap=True)
            for s in range(0, mel.shape[1], 1 << 16):
                self._check_mel(src, np.asarray(mel[:, s:s + (1 << 16)], dtype=np.float32))
            source = mel
        else:
            source = AudioStream(src, self.sample_rate)
        return write_audio(dst, self.stream(source, chunk_frames=chunk_frames), self.sample_rate)

    @torch.no_grad()
    def vocode_long(self, source: Tensor, length: int, chunk_frames: int = CHUNK_FRAMES) -> Tensor:
        """Vocode one long input in overlapping chunks; the same result as in one piece.

        Args:
            source: a waveform ``(T,)`` at :attr:`sample_rate` or a log-mel ``(n_mels, N)``.
            length: output samples to return (``T`` for a waveform).

        Returns:
            ``(length,)`` float32 waveform (held in memory: :meth:`write_long` streams to a file).
        """
        if source.dim() == 1:
            source = _TensorStream(source)
        return torch.cat(list(self.stream(source, chunk_frames=chunk_frames)))[:length]

    @torch.no_grad()
    def stream(self, source, chunk_frames: int = CHUNK_FRAMES) -> Iterator[Tensor]:
        """Yield the output of one long input chunk by chunk; together, the same as in one piece.

        Each chunk of ``chunk_frames`` mel frames is extended on both sides by the
        generator's receptive field (:meth:`context_frames`), and for audio the mel is
        computed over a further ``n_fft`` samples (:func:`mel_frames`), so every kept output
        sample sees exactly the inputs it would see in a whole-file pass (to float
        rounding). Memory is one chunk's.

        Args:
            source: a log-mel ``(n_mels, N)`` (array, memory map or tensor), or audio at
                :attr:`sample_rate` read forward in windows: an object with ``length`` and
                ``read(a, b)`` (:class:`~audioup.audio.io.AudioStream`).

        Yields:
            ``(hop * chunk_frames,)`` float32 blocks; for audio the last one is cut to
            ``source.length`` samples in all.
        """
        audio = hasattr(source, "read")
        samples = source.length if audio else None
        frames = -(-samples // self.hop_length) if audio else source.shape[-1]
        context, hop = self.context_frames(), self.hop_length
        for s in range(0, frames, chunk_frames):
            e = min(frames, s + chunk_frames)
            fs, fe = max(0, s - context), min(frames, e + context)
            if audio:
                mel = mel_frames(source, self.mel, fs, fe)
            else:
                mel = source[:, fs:fe]  # a copy of a memory map's part (read-only)
                mel = mel.float() if torch.is_tensor(mel) else torch.from_numpy(np.array(mel, dtype=np.float32))
            out = self(mel)[(s - fs) * hop:(e - fs) * hop]
            yield out[:samples - s * hop] if audio else out

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
        info = audio_info(path)  # samples at our rate as the resampler gives them: ceil(frames * ratio)
        return -(-(-(-int(info.frames) * self.sample_rate // max(info.samplerate, 1))) // self.hop_length)

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

    def _check_mel(self, path: Path, mel: np.ndarray) -> None:
        """Refuse NaN/Inf and values no natural-log mel holds (a linear or dB mel, garbage)."""
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

    def _load_input(self, path: Path) -> Tuple[Tensor, int]:
        """``(mel (n_mels, N), output length)`` for a WAV (analysis) or a ``.npy`` mel."""
        if path.suffix.lower() in MEL_EXTENSIONS:
            mel = self._read_mel(path).astype(np.float32)
            self._check_mel(path, mel)
            return torch.from_numpy(mel), mel.shape[1] * self.hop_length
        wav = torch.from_numpy(load_audio(path, sample_rate=self.sample_rate).samples)
        return self._analyse(wav.unsqueeze(0))[0].cpu(), wav.shape[-1]


def load_clip(path, sample_rate: int, max_seconds: float = MAX_CLIP_SECONDS, min_samples: int = 1,
              what: str = "a clip") -> np.ndarray:
    """Mono samples of a short audio file at ``sample_rate``, refused from its header when too long.

    For the commands that hold a whole clip and everything computed from it in memory
    (``analyze --mel-from``, ``convert --test``): a 2-hour file is refused before a sample
    is read, instead of filling the memory.

    Raises:
        AudioError: longer than ``max_seconds`` (naming both durations), or as
            :func:`~audioup.audio.io.load_audio`.
    """
    info = audio_info(path)
    seconds = info.frames / max(info.samplerate, 1)
    if seconds > max_seconds:
        raise AudioError(path, f"{seconds:.1f} s long; {what} may be at most {max_seconds:g} s (it is "
                               "processed whole, in memory): cut a part of it, e.g. `sox IN OUT trim 0 30`")
    return load_audio(path, sample_rate=sample_rate, min_samples=min_samples).samples


@torch.no_grad()
def mel_frames(source, front_end: MelSpectrogram, start: int, end: int) -> Tensor:
    """Log-mel frames ``[start, end)`` of long audio, computed from the samples around them only.

    The same frames (to float rounding) as those of the whole signal zero-padded to a
    whole number of hops, as ``audioup mel`` and ``vocode`` analyse it: the STFT's edge
    padding reaches ``n_fft / 2`` samples, so ``ceil(n_fft / hop)`` frames more on each
    side are computed and dropped.

    Args:
        source: audio at the front end's rate read forward in windows: ``length`` and
            ``read(a, b)`` (:class:`~audioup.audio.io.AudioStream`).

    Shape:
        Output: ``(n_mels, end - start)``, on the front end's device.
    """
    hop = front_end.hop_length
    frames = -(-source.length // hop)
    margin = -(-front_end.n_fft // hop)
    lo, hi = max(0, start - margin), min(frames, end + margin)
    wav = torch.as_tensor(source.read(lo * hop, hi * hop), dtype=torch.float32)
    wav = torch.nn.functional.pad(wav, (0, (-wav.shape[-1]) % hop))
    return front_end(wav[None].to(front_end.filterbank.device))[0, :, start - lo:end - lo]


class _TensorStream:
    """A waveform tensor read like an :class:`~audioup.audio.io.AudioStream`."""

    def __init__(self, samples: Tensor):
        self.samples, self.length = samples, int(samples.shape[-1])

    def read(self, a: int, b: int) -> Tensor:
        return self.samples[a:b]


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
                 suffix: str = ".wav", clashes: Optional[list] = None) -> List[Tuple[Path, Path]]:
    """``(input, output)`` pairs: a folder's files keep their relative path, files their name.

    ``extensions`` are the files taken from folders; outputs get ``suffix``
    (``audioup mel`` plans audio -> ``.npy`` with it). When two inputs would be
    written to one output (``speech.wav`` and ``mels/speech.npy``), the first in the
    order given keeps it; each later one is left out and, when ``clashes`` is a list,
    recorded there as ``(input, "INPUT: ... problem")`` (with ``clashes=None`` it is an error).

    Raises:
        FileNotFoundError: a missing input; ValueError: no inputs, an output that would
        replace an input, or (``clashes=None``) two inputs with one output name.
    """
    out_dir = Path(out_dir)
    planned: List[Tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = find_audio_files([p], extensions)
            planned.extend((f, (out_dir / f.relative_to(p)).with_suffix(suffix)) for f in files)
        elif p.exists():
            planned.append((p, out_dir / (p.stem + suffix)))
        else:
            try:
                find_audio_files([p])  # says why: missing, a dangling link or a link loop
            except AudioError as exc:
                raise FileNotFoundError(str(exc)) from None
    if not planned:
        raise ValueError("no audio (.wav, .flac, ...) or mel (.npy) files in the inputs")
    seen: dict = {}
    jobs: List[Tuple[Path, Path]] = []
    for src, dst in planned:
        if dst not in seen:
            seen[dst] = src
            jobs.append((src, dst))
        elif clashes is None:
            raise ValueError(f"{seen[dst]} and {src} would both be written to {dst}")
        else:
            clashes.append((src, f"{src}: its output {dst} is that of {seen[dst]}, given "
                                 "before it (inputs with the same name; give this one another --out)"))
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
    data = read_generator(checkpoint, config=config)  # settings, sizes and finite weights checked there
    return build_vocoder(data["generator_config"], data["mel"], data["generator"], device=device,
                         step=int(data["step"]))


def build_vocoder(generator_config: dict, mel_settings: dict, state_dict=None, device="cpu",
                  step: int = 0) -> Vocoder:
    """A :class:`Vocoder` from a checkpoint's ``generator_config`` and ``mel`` settings.

    Args:
        generator_config: ``{"name", "kwargs"}`` (:func:`audioup.models.registry.generator_config`).
        mel_settings: arguments of :class:`~audioup.audio.mel.MelSpectrogram`.
        state_dict: generator weights; ``None``: new ones, calibrated as a new run's.
    """
    generator = build_generator_from(generator_config)
    if state_dict is None:
        calibrate_levels_(generator)
    else:
        generator.load_state_dict(state_dict)
    generator.remove_weight_norm()
    return Vocoder(generator, MelSpectrogram(**mel_settings), device=device, step=step)
