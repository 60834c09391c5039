"""Public speech datasets -> train / val / test filelists, optionally resampled.

Each ``prepare_*`` function downloads (resuming, checksum-verified) and
extracts the archives under ``root``, optionally resamples the audio into
``root/wavs_<rate>/``, and writes three filelists ``root/train.txt``,
``root/val.txt`` and ``root/test.txt``: one audio path per line, relative to
``root`` (the filelists' own folder), in sorted order.

Splits are deterministic and independent of the file system: an utterance (or
speaker) goes to validation when it is among the ``n`` whose
``sha256("audioup-split-v1:" + id)`` is smallest (:func:`hash_select`).

LJSpeech split. HiFi-GAN (Kong et al., 2020) trains on 12,950 LJSpeech
utterances and validates on the other 150; its lists are files in the HiFi-GAN
repository. They are not available offline, so by default the 150 validation
utterances here are chosen by :func:`hash_select` -- the same sizes as
HiFi-GAN's split but not the same utterances. Pass ``val_list=`` (HiFi-GAN's
``LJSpeech-1.1/validation.txt``, lines ``LJ050-0269|text|text``) to use its
exact split: training is then every other utterance, which is exactly its
``training.txt``. HiFi-GAN reports results on the validation set, so for
LJSpeech ``test.txt`` is a copy of ``val.txt``.

Checksums (sha256, as published in ``torchaudio.datasets``; the LibriTTS ones
also agree with an independent download record) are recorded below; where
none is recorded pass ``checksum=`` or accept an unverified download.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..audio.fs import atomic_write
from ..audio.io import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, AudioError, audio_info, load_audio
from ..audio.write import save_audio
from ..progress import progress_bar
from .archive import extract_archive
from .download import download as _download, parse_checksum

SPLIT_SALT = "audioup-split-v1"


@dataclass(frozen=True)
class Archive:
    """One downloadable file: URL, checksum (``"sha256:HEX"`` or ``None``), size in bytes if known."""

    url: str
    checksum: Optional[str] = None
    size: Optional[int] = None

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    native_rate: int
    default_rate: int
    archives: Dict[str, Archive]
    homepage: str
    licence: str


_SLR60 = "https://www.openslr.org/resources/60/"
DATASETS: Dict[str, DatasetInfo] = {
    "ljspeech": DatasetInfo(
        "ljspeech", 22050, 22050,
        {"LJSpeech-1.1": Archive(
            "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2",
            "sha256:be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5")},
        "https://keithito.com/LJ-Speech-Dataset/", "public domain"),
    "vctk": DatasetInfo(
        "vctk", 48000, 24000,
        {"VCTK-Corpus-0.92": Archive(
            "https://datashare.ed.ac.uk/bitstream/handle/10283/3443/VCTK-Corpus-0.92.zip",
            "sha256:f96258be9fdc2cbff6559541aae7ea4f59df3fcaf5cf963aae5ca647357e359c")},
        "https://datashare.ed.ac.uk/handle/10283/3443", "CC BY 4.0"),
    "libritts": DatasetInfo(
        "libritts", 24000, 24000,
        {name: Archive(_SLR60 + name + ".tar.gz", "sha256:" + digest, size) for name, digest, size in [
            ("dev-clean", "da0864e1bd26debed35da8a869dd5c04dfc27682921936de7cff9c8a254dbe1a", 1291469655),
            ("dev-other", "d413eda26f3a152ac7c9cf3658ef85504dfb1b625296e5fa83727f5186cca79c", None),
            ("test-clean", "234ea5b25859102a87024a4b9b86641f5b5aaaf1197335c95090cde04fe9a4f5", 1230670113),
            ("test-other", "33a5342094f3bba7ccc2e0500b9e72d558f72eb99328ac8debe1d9080402f10d", None),
            ("train-clean-100", "c5608bf1ef74bb621935382b8399c5cdd51cd3ee47cec51f00f885a64c6c7f6b", 7723686890),
            ("train-clean-360", "ce7cff44dcac46009d18379f37ef36551123a1dc4e5c8e4eb73ae57260de4886", 27504073644),
            ("train-other-500", "e35f7e34deeb2e2bdfe4403d88c8fdd5fbf64865cae41f027a185a6965f0a5df", None),
        ]},
        "https://www.openslr.org/60/", "CC BY 4.0"),
}


@dataclass
class PreparedDataset:
    """Result of a ``prepare_*`` call: filelist paths, their lengths, and per-file problems."""

    name: str
    root: Path
    sample_rate: int
    filelists: Dict[str, Path]
    counts: Dict[str, int]
    errors: List[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        text = f"{self.name} at {self.sample_rate} Hz: {counts} files; filelists in {self.root}"
        if self.errors:
            text += f"\n{len(self.errors)} file(s) skipped:\n  " + "\n  ".join(self.errors[:20])
        return text


def hash_select(ids: Iterable[str], n: int, salt: str = SPLIT_SALT) -> List[str]:
    """The ``n`` ids with the smallest ``sha256(salt + ":" + id)``, in sorted order.

    The choice depends only on the ids themselves, not on their order, the
    platform or a random number generator, so it is the same everywhere.
    """
    ids = sorted(set(ids))
    if n > len(ids):
        raise ValueError(f"cannot select {n} of {len(ids)} items")
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{salt}:{i}".encode()).hexdigest())
    return sorted(ranked[:n])


def read_id_list(path) -> List[str]:
    """Utterance ids from a list file: the text before the first ``|``, without folder or extension.

    Reads HiFi-GAN's ``validation.txt`` (``LJ050-0269|text|text``) and plain
    lists of ids or paths alike; blank lines and ``#`` comments are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: list file not found")
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name = line.split("|", 1)[0].strip().replace("\\", "/").rsplit("/", 1)[-1]
            ids.append(name.rsplit(".", 1)[0] if "." in name else name)
    if not ids:
        raise ValueError(f"{path}: no ids in list file")
    return ids


def write_filelist(path, files: Sequence[Path], base) -> int:
    """Write ``files`` relative to ``base`` (posix separators, sorted), one per line; return the count.

    :func:`audioup.data.dataset.read_filelist` reads it back.
    """
    path, base = Path(path), Path(base).resolve()
    lines = sorted(Path(f).resolve().relative_to(base).as_posix() for f in files)
    atomic_write(path, "".join(line + "\n" for line in lines))
    return len(lines)


def fetch(info: DatasetInfo, subset: str, root: Path, download: bool = True, url: Optional[str] = None,
          checksum: Optional[str] = None, extract_to: Optional[Path] = None, progress: bool = True) -> Path:
    """Download (unless already there) and extract one archive of ``info``; return the extraction folder."""
    archive = info.archives[subset]
    url = url or archive.url
    checksum = checksum if checksum is not None else archive.checksum
    if checksum is not None:
        parse_checksum(checksum)  # refused before downloading gigabytes
    out = Path(extract_to or root)
    file = root / "downloads" / url.rstrip("/").rsplit("/", 1)[-1]
    if (out / f".extracted-{file.name}").exists():
        return out
    if not download and not file.exists():
        raise FileNotFoundError(
            f"{file}: archive not found and downloading is off; download {url} ({info.homepage}) "
            f"into {file.parent}, or allow downloading")
    _download(url, file, checksum=checksum, progress=progress)
    return extract_archive(file, out, progress=progress)


def convert(files: Sequence[Path], src_root: Path, out_root: Path, sample_rate: int,
            progress: bool = True) -> Tuple[Dict[Path, Path], List[str]]:
    """Check every file and resample it to ``sample_rate`` when needed.

    Files already at ``sample_rate`` are used in place (only their header is
    read); others are written once as 16-bit WAVs under ``out_root`` with the
    same relative path (existing outputs are reused, so an interrupted run
    continues). A bad file is reported in the returned error list and skipped.

    Returns:
        ``({source: usable file}, ["PATH: problem", ...])``.
    """
    done: Dict[Path, Path] = {}
    errors: List[str] = []
    for f in progress_bar(files, desc=f"checking/resampling to {sample_rate} Hz", enabled=progress, unit="file"):
        try:
            if audio_info(f).samplerate == sample_rate:
                done[f] = f
                continue
            out = (out_root / Path(f).relative_to(src_root)).with_suffix(".wav")
            if not out.exists():
                save_audio(out, load_audio(f, sample_rate=sample_rate).samples, sample_rate)
            done[f] = out
        except AudioError as exc:
            errors.append(str(exc))
    if files and not done:
        raise RuntimeError(f"none of the {len(files)} audio files could be used; first problem: {errors[0]}")
    return done, errors


def _check_settings(root: Path, sample_rate: int, **counts: int) -> int:
    """Refuse impossible settings before anything is downloaded; returns ``sample_rate``."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample rate {sample_rate} Hz: expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    for name, value in counts.items():
        if value < (1 if name == "n_test_speakers" else 0):
            raise ValueError(f"{name.replace('_', '-')} {value}: must be >= {1 if name == 'n_test_speakers' else 0}")
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root}: exists and is not a folder")
    return sample_rate


def _finish(name: str, root: Path, sample_rate: int, splits: Dict[str, List[Path]],
            usable: Dict[Path, Path], errors: List[str]) -> PreparedDataset:
    filelists, counts = {}, {}
    for split, files in splits.items():
        filelists[split] = root / f"{split}.txt"
        counts[split] = write_filelist(filelists[split], [usable[f] for f in files if f in usable], root)
    return PreparedDataset(name, root, sample_rate, filelists, counts, errors)


def prepare_ljspeech(root, sample_rate: Optional[int] = None, n_val: int = 150, val_list=None,
                     download: bool = True, url: Optional[str] = None, checksum: Optional[str] = None,
                     progress: bool = True) -> PreparedDataset:
    """LJSpeech 1.1 with a HiFi-GAN-sized split (12,950 train / 150 val; test = val).

    Args:
        root: working folder (archive in ``root/downloads``, data in ``root/LJSpeech-1.1``).
        sample_rate: output rate; default 22,050 Hz (native, no resampling).
        n_val: validation size when no ``val_list`` is given.
        val_list: HiFi-GAN's ``validation.txt`` (or any id list) for its exact split.
        download: fetch the archive if missing; ``False`` needs it in ``root/downloads``.
        url, checksum: override the registry (mirrors, tests).
    """
    info, root = DATASETS["ljspeech"], Path(root)
    sample_rate = _check_settings(root, sample_rate or info.default_rate, n_val=n_val)
    fetch(info, "LJSpeech-1.1", root, download, url, checksum, progress=progress)
    wav_dir = root / "LJSpeech-1.1" / "wavs"
    files = sorted(wav_dir.glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"{wav_dir}: no WAV files; is the extraction complete?")
    by_id = {f.stem: f for f in files}
    if val_list is not None:
        val_ids = read_id_list(val_list)
        missing = [i for i in val_ids if i not in by_id]
        if missing:
            raise ValueError(f"{val_list}: {len(missing)} ids not in {wav_dir}, e.g. {missing[:3]}")
    else:
        val_ids = hash_select(by_id, n_val)
    val_ids = set(val_ids)
    val = [by_id[i] for i in sorted(val_ids)]
    train = [f for f in files if f.stem not in val_ids]
    usable, errors = convert(files, root, root / f"wavs_{sample_rate}", sample_rate, progress)
    return _finish("ljspeech", root, sample_rate, {"train": train, "val": val, "test": val}, usable, errors)


def prepare_vctk(root, sample_rate: Optional[int] = None, mic: str = "mic1", n_val: int = 100,
                 n_test_speakers: int = 8, download: bool = True, url: Optional[str] = None,
                 checksum: Optional[str] = None, progress: bool = True) -> PreparedDataset:
    """VCTK 0.92 (48 kHz FLAC, one microphone) resampled to 24 kHz by default.

    Test: every utterance of ``n_test_speakers`` speakers chosen by
    :func:`hash_select` (unseen speakers). Validation: ``n_val`` utterances of
    the remaining speakers. Train: the rest.
    """
    info, root = DATASETS["vctk"], Path(root)
    sample_rate = _check_settings(root, sample_rate or info.default_rate, n_val=n_val,
                                  n_test_speakers=n_test_speakers)
    data = fetch(info, "VCTK-Corpus-0.92", root, download, url, checksum,
                 extract_to=root / "VCTK-Corpus-0.92", progress=progress)
    files = sorted(data.rglob(f"*_{mic}.flac")) or sorted(data.rglob(f"*_{mic}.wav"))
    if not files:
        raise FileNotFoundError(f"{data}: no '*_{mic}.flac' files; is the extraction complete?")
    speakers = sorted({f.name.split("_", 1)[0] for f in files})
    test_spk = set(hash_select(speakers, n_test_speakers))
    test = [f for f in files if f.name.split("_", 1)[0] in test_spk]
    rest = [f for f in files if f.name.split("_", 1)[0] not in test_spk]
    val_ids = set(hash_select((f.name for f in rest), n_val))
    val = [f for f in rest if f.name in val_ids]
    train = [f for f in rest if f.name not in val_ids]
    usable, errors = convert(files, root, root / f"wavs_{sample_rate}", sample_rate, progress)
    return _finish("vctk", root, sample_rate, {"train": train, "val": val, "test": test}, usable, errors)


def prepare_libritts(root, sample_rate: Optional[int] = None, subsets: Sequence[str] = ("train-clean-100",),
                     val_subset: str = "dev-clean", test_subset: str = "test-clean", n_val: int = 200,
                     download: bool = True, urls: Optional[Dict[str, str]] = None,
                     checksums: Optional[Dict[str, str]] = None, progress: bool = True) -> PreparedDataset:
    """LibriTTS (24 kHz): train on ``subsets``, validate on ``n_val`` utterances of ``val_subset``, test on ``test_subset``.

    BigVGAN trains on all three training subsets
    (``train-clean-100``, ``train-clean-360``, ``train-other-500``); the
    default here is the 7.7 GB ``train-clean-100`` alone.
    """
    info, root = DATASETS["libritts"], Path(root)
    sample_rate = _check_settings(root, sample_rate or info.default_rate, n_val=n_val)
    urls, checksums = urls or {}, checksums or {}
    per_subset: Dict[str, List[Path]] = {}
    for subset in dict.fromkeys([*subsets, val_subset, test_subset]):
        if subset not in info.archives:
            raise ValueError(f"unknown LibriTTS subset {subset!r}; known: {', '.join(info.archives)}")
        fetch(info, subset, root, download, urls.get(subset), checksums.get(subset), progress=progress)
        per_subset[subset] = sorted((root / "LibriTTS" / subset).rglob("*.wav"))
        if not per_subset[subset]:
            raise FileNotFoundError(f"{root / 'LibriTTS' / subset}: no WAV files; is the extraction complete?")
    train = sorted({f for s in subsets for f in per_subset[s]})
    val_pool = per_subset[val_subset]
    val_ids = set(hash_select((f.name for f in val_pool), min(n_val, len(val_pool))))
    val = [f for f in val_pool if f.name in val_ids]
    test = per_subset[test_subset]
    all_files = sorted(set(train) | set(val) | set(test))
    usable, errors = convert(all_files, root, root / f"wavs_{sample_rate}", sample_rate, progress)
    return _finish("libritts", root, sample_rate, {"train": train, "val": val, "test": test}, usable, errors)


PREPARERS = {"ljspeech": prepare_ljspeech, "vctk": prepare_vctk, "libritts": prepare_libritts}
