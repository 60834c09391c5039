"""Datasets over audio files.

- :mod:`audioup.data.dataset`: file collection (files, folders, filelists), the
  pre-training file check, and :class:`SegmentDataset` (random fixed-length
  mono segments at the training rate).
- :mod:`audioup.data.corpus`: the embedded offline corpus built from the bundled speech.
- :mod:`audioup.data.prepare`: LJSpeech / VCTK / LibriTTS -> train / val / test filelists.
- :mod:`audioup.data.download`: resumable, checksum-verified downloads.
- :mod:`audioup.data.archive`: safe extraction of tar and zip archives.
- :mod:`audioup.data.debian`: ``apt-get download`` of pinned packages, ``.deb`` unpacking.
- :mod:`audioup.data.offline`: the offline corpus of real recordings from Debian packages
  (Czech game dialogue, Russian read speech, orchestral music), split by speaker.
- :mod:`audioup.data.pack`: a train / val / test subset as FLAC or OGG under a size limit.
"""
from .dataset import (DataError, FileCheck, SegmentDataset, check_files, collect_files,
                      estimated_megabytes, usable_files)

__all__ = ["DataError", "FileCheck", "SegmentDataset", "check_files", "collect_files",
           "estimated_megabytes", "usable_files"]
