"""An offline corpus of real recordings from Debian packages, split by speaker.

Machines without internet cannot fetch LJSpeech or VCTK, but Debian's package
archive is usually reachable (it is how software gets installed) and holds real
recorded audio (sizes measured on Debian 12, Nov 2026):

========================  ======  =========  =======================================
corpus / package          files   minutes    what
========================  ======  =========  =======================================
speech: fillets-ng-data-cs 1,882   105.7      Czech game dialogue, ~26 characters,
                                             22.05 kHz OGG (GPL-2); speakers from the
                                             ``font`` of ``dialogId`` in
                                             ``fillets-ng-data``'s ``dialogs_cs.lua``
speech: festvox-ru          620    99.5      read Russian sentences, one male speaker,
                                             16 kHz (nothing above ~7 kHz; BSD-like)
music: wesnoth-1.16-music    41   128        orchestral tracks, 44.1 kHz stereo OGG
========================  ======  =========  =======================================

:func:`prepare_offline` fetches the packages (:mod:`audioup.data.debian`),
unpacks them, converts every recording to mono 16-bit WAV at the corpus rate
(22,050 Hz for speech, 44,100 Hz for music) and writes ``train.txt``,
``val.txt`` and ``test.txt`` in ``OUT/<corpus>/``. Splits:

- Fillets: the test set is every utterance of the held-out characters
  (:data:`FILLETS_TEST_SPEAKERS`, unseen in training); validation is a
  hash-chosen set of utterances of the training characters.
- festvox-ru (one speaker): held-out sentences, hash-chosen, for val and test.
- music: whole tracks are held out (hash-chosen).

Every step is resumable: a verified ``.deb`` and a finished extraction or WAV
are reused. :func:`pack_subset` copies a train/val/test subset as FLAC or OGG
under a size limit (the offline GPU machines receive at most 64 MiB).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..progress import progress_bar

from ..audio.io import AudioError, audio_info, load_audio
from ..audio.write import save_audio
from .debian import DebPackage, apt_download, extract_deb
from .prepare import PreparedDataset, hash_select, write_filelist

SPEECH_RATE = 22050
MUSIC_RATE = 44100
MIB = 1 << 20

PACKAGES = {p.name: p for p in [
    DebPackage("fillets-ng-data-cs", "1.0.1-1.1",
               "3ecef99b9456f1c80c9625c6f2418642b52d58e7167a46bad7a412db17991b14", 39042172, "GPL-2"),
    DebPackage("fillets-ng-data", "1.0.1-1.1",
               "25de89afd8b1adf7bcace8290248a6a22c89cd42300317e69000e162c032cf84", 70633484, "GPL-2"),
    DebPackage("festvox-ru", "0.5+dfsg-6",
               "21ef3f0f2978ecf2e2eddb367cb0ff4a72572196d28dc69feb84f4177af5e6c4", 178728512, "BSD-like"),
    DebPackage("wesnoth-1.16-music", "1:1.16.9-1",
               "f9bc3cde92b4ab30db5d7b85f89b4bcc3d788dd92602956d0347250850bf59bb", 153244368, "GPL-2"),
]}

FILLETS_SOUND = "usr/share/games/fillets-ng/sound"
FILLETS_SCRIPT = "usr/share/games/fillets-ng/script"
FESTVOX_WAV = "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav"
WESNOTH_MUSIC = "usr/share/games/wesnoth/1.16/data/core/music"
# held-out Fillets characters (font names without "font_"): minor voices, unseen in training
FILLETS_TEST_SPEAKERS = ("statue", "cyan", "parrot", "viking1", "viking2", "viking3")

_DIALOG_ID = re.compile(r'dialogId\(\s*"([^"]+)"\s*,\s*"([^"]*)"')


class OfflineDataError(RuntimeError):
    """The offline corpus cannot be prepared (the message says why and what to do)."""


@dataclass(frozen=True)
class Item:
    """One recording: its source file, speaker (or track) and a unique id within its source."""

    source: str
    speaker: str
    uid: str
    path: Path


@dataclass
class OfflineCorpus(PreparedDataset):
    """Result of :func:`prepare_offline`: a :class:`PreparedDataset` with minutes and speakers per split."""

    minutes: Dict[str, float] = field(default_factory=dict)
    speakers: Dict[str, List[str]] = field(default_factory=dict)

    def unseen(self) -> List[str]:
        """Test speakers (or tracks) with nothing in the training split."""
        train = set(self.speakers.get("train", []))
        return [s for s in self.speakers.get("test", []) if s not in train]

    def summary(self) -> str:
        parts = ", ".join(f"{s} {self.counts[s]} files / {self.minutes[s]:.1f} min" for s in self.counts)
        text = (f"offline {self.name} corpus at {self.sample_rate} Hz: {parts}; filelists in {self.root}\n"
                f"test speakers/tracks unseen in training: {', '.join(self.unseen()) or 'none'}")
        if self.errors:
            text += f"\n{len(self.errors)} file(s) skipped:\n  " + "\n  ".join(self.errors[:20])
        return text


CORPORA: Dict[str, Tuple[Tuple[str, ...], int]] = {
    "speech": (("fillets-ng-data-cs", "fillets-ng-data", "festvox-ru"), SPEECH_RATE),
    "music": (("wesnoth-1.16-music",), MUSIC_RATE),
}


def fillets_speakers(script_root) -> Dict[str, str]:
    """``{dialog id: character}`` from every ``*dialogs_cs.lua`` under ``script_root``.

    The character is the ``font`` argument of ``dialogId(ID, FONT, text)`` without
    its ``font_`` prefix; entries with an empty font (sound effects) are left out.
    """
    speakers: Dict[str, str] = {}
    for lua in sorted(Path(script_root).rglob("*dialogs_cs.lua")):
        text = lua.read_text(encoding="utf-8", errors="replace")
        for uid, font in _DIALOG_ID.findall(text):
            if font.strip():
                speakers.setdefault(uid, font.strip().removeprefix("font_"))
    return speakers


def fillets_items(root) -> Tuple[List[Item], List[str]]:
    """Czech Fillets recordings with their character; files without one are reported, not used."""
    root = Path(root)
    speakers = fillets_speakers(root / FILLETS_SCRIPT)
    if not speakers:
        raise OfflineDataError(f"{root / FILLETS_SCRIPT}: no dialogs_cs.lua with dialogId entries "
                               "(is fillets-ng-data extracted?)")
    items, skipped = [], []
    for path in sorted((root / FILLETS_SOUND).glob("**/cs/*.ogg")):
        speaker = speakers.get(path.stem)
        if speaker is None:
            skipped.append(f"{path}: no character in dialogs_cs.lua (not used)")
            continue
        level = path.relative_to(root / FILLETS_SOUND).parts[0]
        items.append(Item("fillets", speaker, f"{level}/{path.stem}", path))
    if not items:
        raise OfflineDataError(f"{root / FILLETS_SOUND}: no Czech recordings (is fillets-ng-data-cs extracted?)")
    return items, skipped


def festvox_items(root) -> List[Item]:
    """The festvox-ru sentences (one speaker, ``nsh``)."""
    files = sorted((Path(root) / FESTVOX_WAV).glob("*.wav"))
    if not files:
        raise OfflineDataError(f"{Path(root) / FESTVOX_WAV}: no WAV files (is festvox-ru extracted?)")
    return [Item("festvox-ru", "nsh", p.stem, p) for p in files]


def music_items(root) -> List[Item]:
    """The Wesnoth music tracks (each track its own 'speaker')."""
    files = sorted((Path(root) / WESNOTH_MUSIC).glob("*.ogg"))
    if not files:
        raise OfflineDataError(f"{Path(root) / WESNOTH_MUSIC}: no OGG files (is wesnoth-1.16-music extracted?)")
    return [Item("wesnoth", p.stem, p.stem, p) for p in files]


def split_items(items: Sequence[Item], test_speakers: Sequence[str] = (), n_val: int = 0,
                n_test: int = 0) -> Dict[str, List[Item]]:
    """Train / val / test by speaker.

    Every item of ``test_speakers`` goes to test; then ``n_test`` more items and
    ``n_val`` items of the other speakers are chosen with :func:`hash_select`
    (deterministic, independent of order and platform). A held-out speaker never
    appears in train or val.

    Raises:
        OfflineDataError: a test speaker with no items, or fewer items than asked for.
    """
    present = {i.speaker for i in items}
    missing = [s for s in test_speakers if s not in present]
    if missing:
        raise OfflineDataError(f"held-out speaker(s) {', '.join(missing)} not in the corpus "
                               f"(speakers: {', '.join(sorted(present))})")
    held = set(test_speakers)
    rest = [i for i in items if i.speaker not in held]
    if n_val + n_test > len(rest):
        raise OfflineDataError(f"cannot hold out {n_val} + {n_test} of {len(rest)} items")
    by_key = {f"{i.source}/{i.uid}": i for i in rest}
    chosen = hash_select(by_key, n_val + n_test)
    test_extra = set(hash_select(chosen, n_test, salt="audioup-offline-test")) if n_test else set()
    val = {k for k in chosen if k not in test_extra}
    return {"train": [i for k, i in sorted(by_key.items()) if k not in val and k not in test_extra],
            "val": [by_key[k] for k in sorted(val)],
            "test": [i for i in items if i.speaker in held] + [by_key[k] for k in sorted(test_extra)]}


def convert_items(items: Sequence[Item], out_dir: Path, sample_rate: int,
                  progress: bool = True) -> Tuple[Dict[Item, Tuple[Path, float]], List[str]]:
    """Mono 16-bit WAV at ``sample_rate`` for each item, at ``out_dir/SOURCE/UID.wav``.

    Existing outputs are reused (an interrupted run continues); an unreadable
    source is reported and skipped.

    Returns:
        ``({item: (wav, seconds)}, ["PATH: problem", ...])``.
    """
    done, errors = {}, []
    for item in progress_bar(items, enabled=progress, desc=f"converting to {sample_rate} Hz mono WAV", unit="file"):
        out = out_dir / item.source / f"{item.uid}.wav"
        try:
            if not out.is_file():
                save_audio(out, load_audio(item.path, sample_rate=sample_rate).samples, sample_rate)
            info = audio_info(out)
            done[item] = (out, info.frames / info.samplerate)
        except AudioError as exc:
            errors.append(str(exc))
    return done, errors


def _convert_up_to(items: Sequence[Item], out_dir: Path, rate: int,
                   seconds: float) -> Tuple[Dict[Item, Tuple[Path, float]], List[str]]:
    """Convert ``items`` in a hash-chosen order (every speaker has a chance) until ``seconds`` of audio."""
    done: Dict[Item, Tuple[Path, float]] = {}
    errors: List[str] = []
    total = 0.0
    keyed = {f"{i.source}/{i.uid}": i for i in items}
    ranked = sorted(keyed, key=lambda k: hashlib.sha256(f"audioup-offline-limit:{k}".encode()).hexdigest())
    for key in ranked:
        if total >= seconds:
            break
        got, bad = convert_items([keyed[key]], out_dir, rate, progress=False)
        done.update(got)
        errors += bad
        total += sum(length for _, length in got.values())
    return done, errors


def fetch_and_extract(packages: Sequence[str], root: Path, any_version: bool = False,
                      log: Callable[[str], object] = print) -> Path:
    """Download (if missing) and unpack ``packages`` into ``root/extracted``; return that folder."""
    extracted = root / "extracted"
    for name in packages:
        package = PACKAGES[name]
        log(f"{name} {package.version} ({package.size / MIB:.0f} MiB): fetching / checking")
        deb = apt_download(package, root / "debs", any_version=any_version)
        extract_deb(deb, extracted)
    return extracted


def prepare_offline(out, corpus: str = "speech", any_version: bool = False,
                    test_speakers: Sequence[str] = FILLETS_TEST_SPEAKERS, progress: bool = True,
                    log: Callable[[str], object] = print,
                    limit_minutes: Optional[float] = None) -> OfflineCorpus:
    """Build one offline corpus under ``out``: ``out/debs``, ``out/extracted``, ``out/CORPUS/``.

    Args:
        out: working folder (about 1.3 GB for speech, 1.2 GB for music).
        corpus: ``"speech"`` (Fillets + festvox-ru, 22.05 kHz) or ``"music"`` (44.1 kHz).
        any_version: accept package versions other than the pinned ones (sha256 not checked).
        test_speakers: held-out Fillets characters.
        limit_minutes: convert only about this much audio per split, in a fixed hash-chosen
            order (a quick check of the whole path; the splits stay by speaker). A later call
            without it reuses the converted files and completes the corpus.

    Raises:
        OfflineDataError, audioup.data.debian.DebError, audioup.data.archive.ArchiveError.
    """
    if corpus not in CORPORA:
        raise OfflineDataError(f"unknown corpus {corpus!r}; known: {', '.join(CORPORA)}")
    root = Path(out)
    packages, rate = CORPORA[corpus]
    extracted = fetch_and_extract(packages, root, any_version, log)
    skipped: List[str] = []
    if corpus == "speech":
        fillets, skipped = fillets_items(extracted)
        splits = split_items(fillets, test_speakers, n_val=60)
        festvox = split_items(festvox_items(extracted), n_val=20, n_test=40)
        splits = {k: splits[k] + festvox[k] for k in splits}
    else:
        tracks = music_items(extracted)
        splits = split_items(tracks, hash_select([t.speaker for t in tracks], 4), n_val=2)
    corpus_dir = root / corpus
    if limit_minutes is None:
        all_items = [i for s in splits.values() for i in s]
        done, errors = convert_items(all_items, corpus_dir / "wavs", rate, progress)
    else:
        done, errors = {}, []
        for split, items in splits.items():
            got, bad = _convert_up_to(items, corpus_dir / "wavs", rate, limit_minutes * 60)
            splits[split] = [i for i in items if i in got]
            done.update(got)
            errors += bad
    filelists, counts, minutes, speakers = {}, {}, {}, {}
    for split, items in splits.items():
        kept = [i for i in items if i in done]
        filelists[split] = corpus_dir / f"{split}.txt"
        counts[split] = write_filelist(filelists[split], [done[i][0] for i in kept], corpus_dir)
        minutes[split] = sum(done[i][1] for i in kept) / 60
        speakers[split] = sorted({i.speaker for i in kept})
    return OfflineCorpus(corpus, corpus_dir, rate, filelists, counts, errors + skipped, minutes=minutes,
                         speakers=speakers)
