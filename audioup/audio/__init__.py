"""Audio files, the mel and STFT front ends, decibels.

- :mod:`audioup.audio.io`: reading WAV/FLAC files with clear, per-file errors
  (:class:`AudioError`), and finding them in folders.
- :mod:`audioup.audio.write`: writing them atomically (:func:`save_audio`).
- :mod:`audioup.audio.mel`: the one log-mel front end used for training,
  inference and metrics (HiFi-GAN's convention by default).
- :mod:`audioup.audio.stft`: the multi-resolution STFT (resolutions, magnitude)
  shared by the MR-STFT loss, the MR-STFT distance and the discriminators.
- :mod:`audioup.audio.db`: decibels with the one floor the metrics and the
  analysis share (``to_db``, ``power_db``).
"""
from .io import AudioError, AudioFile, load_audio, audio_info, find_audio_files
from .write import save_audio


def __getattr__(name):  # PEP 562: mel imports torch; reading files (audioup measure) must not
    if name in ("MelSpectrogram", "mel_spectrogram"):
        from . import mel

        return getattr(mel, name)
    raise AttributeError(f"module 'audioup.audio' has no attribute {name!r}")


__all__ = [
    "AudioError", "AudioFile", "load_audio", "save_audio", "audio_info", "find_audio_files",
    "MelSpectrogram", "mel_spectrogram",
]
