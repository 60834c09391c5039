"""``audioup mel IN... --out DIR``: log-mel spectrograms (``.npy``) that ``audioup vocode`` reads.

With ``--checkpoint`` the mel front end is the checkpoint's (its sample rate, FFT,
hop and mel bands), so ``audioup vocode --checkpoint CKPT DIR/`` turns the files
back into audio; without it, HiFi-GAN's front end at 22.05 kHz
(:class:`audioup.audio.mel.MelSpectrogram`'s defaults). Each input is resampled
to the front end's rate, zero-padded to a whole number of hops (as ``vocode``
does for WAV inputs) and written as ``float32`` ``(n_mels, frames)``, streamed
(:func:`write_mel`): memory does not grow with the file's length.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from ..audio.fs import atomic_write
from ..audio.io import AUDIO_EXTENSIONS, AudioError, AudioStream
from ..audio.mel import MelSpectrogram
from ..errors import CommandError
from ..inference import mel_frames, plan_outputs
from ..models.checkpoint import CheckpointError, read_generator
from ..progress import progress_bar
from . import check_output_path

DESCRIPTION = """\
Write the log-mel spectrogram of each audio file as a .npy array (n_mels, frames),
the input `audioup vocode` takes. With --checkpoint the mel front end is the
checkpoint's; without it, HiFi-GAN's (22.05 kHz, n_fft 1024, hop 256, 80 bands,
0-8 kHz). A folder's files keep their relative path; existing outputs are kept
unless --force. A file that cannot be read is reported and the others go on.

  audioup mel speech.wav corpus/ --checkpoint runs/tiny --out mels/
  audioup vocode --checkpoint runs/tiny mels/ --out vocoded/
"""


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser("mel", help=help_line,
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    p.add_argument("--out", required=True, metavar="OUTDIR", help="output folder for the .npy files")
    p.add_argument("--checkpoint", metavar="DIR_OR_FILE",
                   help="use this checkpoint's (or run folder's) mel front end (default: HiFi-GAN's)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@torch.no_grad()
def log_mel(samples: np.ndarray, front_end: MelSpectrogram) -> np.ndarray:
    """Log-mel ``(n_mels, ceil(T / hop))`` of ``(T,)`` audio at the front end's rate, zero-padded to whole hops.

    >>> log_mel(np.zeros(1000, np.float32), MelSpectrogram()).shape
    (80, 4)
    """
    wav = torch.as_tensor(samples, dtype=torch.float32).reshape(1, -1)
    wav = torch.nn.functional.pad(wav, (0, (-wav.shape[-1]) % front_end.hop_length))
    return front_end(wav)[0].numpy().astype(np.float32)


CHUNK_FRAMES = 4096  # mel frames computed at a time (~48 s at 22.05 kHz, hop 256): memory is one chunk's


@torch.no_grad()
def write_mel(src, dst, front_end: MelSpectrogram, chunk_frames: int = CHUNK_FRAMES) -> Path:
    """Write the log-mel of one audio file to ``dst`` (``.npy``) in bounded memory.

    The file is streamed (:class:`~audioup.audio.io.AudioStream`) and its mel computed
    chunk by chunk (:func:`~audioup.inference.mel_frames`: the same values as
    :func:`log_mel` of the whole file, to float rounding) and written as it comes, frames
    after frames (a Fortran-ordered ``(n_mels, frames)`` float32 array, which ``np.load``
    reads like any other), into a temporary file renamed at the end.

    Raises:
        AudioError: unreadable audio, also half-way (then nothing is written).
    """
    stream = AudioStream(src, int(front_end.sample_rate))
    frames = -(-stream.length // front_end.hop_length)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": True,
              "shape": (int(front_end.n_mels), frames)}

    def write(f) -> None:
        np.lib.format.write_array_header_1_0(f, header)
        for s in range(0, frames, chunk_frames):
            chunk = mel_frames(stream, front_end, s, min(frames, s + chunk_frames)).cpu().numpy()
            f.write(np.ascontiguousarray(chunk.T, dtype="<f4").tobytes())  # column-major: frame by frame

    return atomic_write(dst, write)


def _front_end(checkpoint) -> MelSpectrogram:
    if checkpoint is None:
        return MelSpectrogram()
    try:
        data = read_generator(checkpoint)  # its mel settings are checked there
        return MelSpectrogram(**data["mel"])  # its settings; no generator built
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        raise CommandError(f"{checkpoint}: {exc}") from None


def run(args) -> int:
    check_output_path(args.out, "--out", folder=True)  # a file where the folder goes: refused before work
    front_end = _front_end(args.checkpoint)
    clashes: list = []
    try:
        jobs = plan_outputs(args.inputs, args.out, extensions=AUDIO_EXTENSIONS, suffix=".npy", clashes=clashes)
    except (FileNotFoundError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    for _, why in clashes:
        print(f"audioup mel: skipped {why}", file=sys.stderr)
    existing = [str(dst) for _, dst in jobs if dst.exists()]
    if existing and not args.force:
        raise CommandError(f"{len(existing)} output file(s) already exist (first: {existing[0]}); "
                           "use --force to overwrite")
    failed = len(clashes)
    for src, dst in progress_bar(jobs, desc="mel", unit="file", enabled=not args.quiet):
        try:
            write_mel(src, dst, front_end)
        except AudioError as exc:
            print(f"audioup mel: skipped {exc}", file=sys.stderr)
            failed += 1
            continue
    print(f"wrote {len(jobs) + len(clashes) - failed} mel(s) ({front_end.n_mels} bands, hop {front_end.hop_length}, "
          f"{front_end.sample_rate} Hz) to {args.out}" + (f"; {failed} failed" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0
