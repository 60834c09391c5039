"""Datasets over audio files.

- :mod:`audioup.data.dataset`: file collection (files, folders, filelists), the
  pre-training file check, and :class:`SegmentDataset` (random fixed-length
  mono segments at the training rate).
- :mod:`audioup.data.corpus`: the embedded offline corpus built from the bundled speech.
- :mod:`audioup.data.prepare`: LJSpeech / VCTK / LibriTTS -> train / val / test filelists.
- :mod:`audioup.data.download`: resumable, checksum-verified downloads and safe extraction.
"""
from .dataset import (DataError, FileCheck, SegmentDataset, check_files, collect_files,
                      estimated_megabytes, usable_files)

__all__ = ["DataError", "FileCheck", "SegmentDataset", "check_files", "collect_files",
           "estimated_megabytes", "usable_files"]
