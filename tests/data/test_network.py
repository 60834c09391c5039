"""The real data path: the pinned Debian packages fetched with apt-get, unpacked, converted and packed.

Marked ``network``: it downloads about 290 MiB, so it runs only when asked for
(``pytest -m network``; ``.ci/run`` does so after the main suite) and skips,
saying why, when apt-get is missing or cannot reach the packages. A package
whose sha256 differs from the pinned one fails the test: that is a real change.
"""
from __future__ import annotations

import os
import shutil

import pytest
import soundfile as sf

from audioup.data.dataset import read_filelist
from audioup.data.debian import DebError, apt_download
from audioup.data.offline import CORPORA, FILLETS_TEST_SPEAKERS, PACKAGES, SPEECH_RATE, prepare_offline
from audioup.data.pack import pack_subset

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """The verified .debs of the speech corpus (AUDIOUP_DEB_CACHE keeps them between runs)."""
    if shutil.which("apt-get") is None:
        pytest.skip("network test skipped: apt-get not found (the offline corpus comes from Debian's archive)")
    folder = os.environ.get("AUDIOUP_DEB_CACHE") or tmp_path_factory.mktemp("debs")
    for name in CORPORA["speech"][0]:
        try:
            apt_download(PACKAGES[name], folder)
        except DebError as exc:
            if "sha256" in str(exc):
                raise  # the archive serves another file under the pinned version: a real failure
            pytest.skip(f"network test skipped: apt cannot fetch {name} ({exc})")
    return folder


def test_pinned_debs_build_a_two_minute_subset(debs, tmp_path):
    out = tmp_path / "offline"
    out.mkdir()
    (out / "debs").symlink_to(debs, target_is_directory=True)  # the verified .debs are reused as is
    corpus = prepare_offline(out, progress=False, log=lambda s: None, limit_minutes=2)
    # fillets-ng-data's links (doc folder -> ../fillets-ng-data/html, fonts -> ../../../fonts) extracted
    doc = out / "extracted/usr/share/doc/fillets-ng/html"
    assert doc.is_symlink() and os.readlink(doc) == "../fillets-ng-data/html" and doc.is_dir()
    fonts = list((out / "extracted/usr/share/games/fillets-ng/font").glob("*.ttf"))
    assert fonts and all(f.is_symlink() and os.readlink(f).startswith("../../../fonts/") for f in fonts)
    for split in ("train", "val", "test"):
        assert 2.0 <= corpus.minutes[split] < 2.5, (split, corpus.minutes)
        files = read_filelist(corpus.filelists[split])
        assert len(files) == corpus.counts[split] > 0
        info = sf.info(str(files[0]))
        assert info.samplerate == SPEECH_RATE and info.channels == 1
    assert set(corpus.speakers["test"]) & set(FILLETS_TEST_SPEAKERS)
    assert not set(corpus.speakers["train"]) & set(FILLETS_TEST_SPEAKERS)  # held out
    packed = pack_subset(corpus.root, tmp_path / "packed", max_minutes=2, eval_minutes=1, log=lambda s: None)
    assert 1.5 < packed.minutes["train"] <= 2.0 and packed.mib < 10
    assert len(read_filelist(tmp_path / "packed" / "train.txt")) == packed.counts["train"]
