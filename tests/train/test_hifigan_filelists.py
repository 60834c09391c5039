"""Filelists in HiFi-GAN's format (``ID|text|text``, ``wavs/ID|text``) name audio by ID, as the
official LJSpeech lists do (issue 23); other entries keep their meaning."""
from __future__ import annotations

import shutil

import pytest

from audioup.data.dataset import DataError, collect_files, read_filelist


@pytest.fixture
def ljspeech(tmp_path, arctic_files):
    """HiFi-GAN's layout: ``LJSpeech-1.1/training.txt`` beside ``LJSpeech-1.1/wavs/*.wav``."""
    root = tmp_path / "LJSpeech-1.1"
    (root / "wavs").mkdir(parents=True)
    for i, src in enumerate(arctic_files[:2], start=1):
        shutil.copy(src, root / "wavs" / f"LJ001-000{i}.wav")
    return root


def test_ids_are_read_as_audio_files(ljspeech):
    listing = ljspeech / "training.txt"
    listing.write_text("LJ001-0001|Printing, in the only sense|Printing, in the only sense\n"
                       "wavs/LJ001-0002|in being comparatively modern.\n")
    wavs = ljspeech / "wavs"
    assert read_filelist(listing) == [wavs / "LJ001-0001.wav", wavs / "LJ001-0002.wav"]
    assert collect_files([], filelist=str(listing)) == [wavs / "LJ001-0001.wav", wavs / "LJ001-0002.wav"]


def test_an_id_beside_the_filelist_wins_and_a_missing_id_is_named(ljspeech):
    shutil.copy(ljspeech / "wavs" / "LJ001-0001.wav", ljspeech / "LJ001-0001.wav")
    listing = ljspeech / "list.txt"
    listing.write_text("LJ001-0001|text\n")
    assert read_filelist(listing) == [ljspeech / "LJ001-0001.wav"]
    listing.write_text("LJ009-0009|text\n")
    with pytest.raises(DataError, match="LJ009-0009.wav"):
        collect_files([listing])


def test_paths_and_folders_keep_their_meaning(ljspeech):
    listing = ljspeech / "list.txt"
    listing.write_text(f"wavs/LJ001-0001.wav|text\nwavs\n{ljspeech / 'wavs' / 'LJ001-0002.wav'}\n# comment\n\n")
    wavs = ljspeech / "wavs"
    assert read_filelist(listing) == [wavs / "LJ001-0001.wav", wavs, wavs / "LJ001-0002.wav"]
