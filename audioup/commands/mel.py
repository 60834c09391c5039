"""``audioup mel IN... --out DIR``: log-mel spectrograms (``.npy``) that ``audioup vocode`` reads.

With ``--checkpoint`` the mel front end is the checkpoint's (its sample rate, FFT,
hop and mel bands), so ``audioup vocode --checkpoint CKPT DIR/`` turns the files
back into audio; without it, HiFi-GAN's front end at 22.05 kHz
(:class:`audioup.audio.mel.MelSpectrogram`'s defaults). Each input is resampled
to the front end's rate, zero-padded to a whole number of hops (as ``vocode``
does for WAV inputs) and written as ``float32`` ``(n_mels, frames)``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from ..audio.fs import atomic_write
from ..audio.io import AUDIO_EXTENSIONS, AudioError, load_audio
from ..audio.mel import MelSpectrogram
from ..errors import CommandError
from ..inference import plan_outputs
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


def register(subparsers) -> None:
    p = subparsers.add_parser("mel", help="write log-mel spectrograms (.npy) of audio files, for vocode",
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


def _front_end(checkpoint) -> MelSpectrogram:
    if checkpoint is None:
        return MelSpectrogram()
    try:
        return MelSpectrogram(**read_generator(checkpoint)["mel"])  # its settings; no generator built
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        raise CommandError(f"{checkpoint}: {exc}") from None


def run(args) -> int:
    check_output_path(args.out, "--out", folder=True)  # a file where the folder goes: refused before work
    front_end = _front_end(args.checkpoint)
    try:
        jobs = plan_outputs(args.inputs, args.out, extensions=AUDIO_EXTENSIONS, suffix=".npy")
    except (FileNotFoundError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    existing = [str(dst) for _, dst in jobs if dst.exists()]
    if existing and not args.force:
        raise CommandError(f"{len(existing)} output file(s) already exist (first: {existing[0]}); "
                           "use --force to overwrite")
    failed = 0
    for src, dst in progress_bar(jobs, desc="mel", unit="file", enabled=not args.quiet):
        try:
            audio = load_audio(src, sample_rate=int(front_end.sample_rate))
        except AudioError as exc:
            print(f"audioup mel: skipped {exc}", file=sys.stderr)
            failed += 1
            continue
        mel = log_mel(audio.samples, front_end)
        atomic_write(dst, lambda f: np.save(f, mel))
    print(f"wrote {len(jobs) - failed} mel(s) ({front_end.n_mels} bands, hop {front_end.hop_length}, "
          f"{front_end.sample_rate} Hz) to {args.out}" + (f"; {failed} failed" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0
