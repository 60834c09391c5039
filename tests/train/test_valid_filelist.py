"""data.valid_files accepts filelists (the val.txt of the data scripts), as data.files does."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audioup.data.corpus import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"), variants=2, n_val=1, progress=False)


def test_collect_files_reads_txt_entries_as_filelists(corpus, tmp_path):
    from audioup.data import DataError, collect_files

    val = [corpus.root / c.file for c in corpus.clips if c.split == "val"]
    test = [corpus.root / c.file for c in corpus.clips if c.split == "test"]
    assert collect_files([corpus.filelists["val"]]) == val
    # a filelist and a plain file together; the order of the entries is kept
    assert collect_files([corpus.filelists["val"], test[0]]) == val + [test[0]]
    assert collect_files([test[0]], filelist=corpus.filelists["val"]) == [test[0]] + val
    with pytest.raises(DataError, match="missing.txt: filelist not found"):
        collect_files([tmp_path / "missing.txt"])


def test_training_validates_on_a_filelist(corpus, tmp_path):
    from audioup.train.config import load_config
    from audioup.train.distributed import DistInfo
    from audioup.train.setup import build_context

    torch.set_num_threads(1)
    cfg = load_config(REPO / "recipes" / "tiny.yaml",
                      [f"run_dir={tmp_path}", "data.files=[]", f"data.filelist={corpus.filelists['train']}",
                       f"data.valid_files=[{corpus.filelists['val']}]", "data.valid_seconds=0.5"])
    ctx = build_context(cfg, torch.device("cpu"), DistInfo(), log=lambda *_: None)
    n_val = sum(c.split == "val" for c in corpus.clips)
    assert len(ctx.valid_audio) == n_val == 2
    assert all(len(a) == int(0.5 * cfg.sample_rate) // cfg.mel.hop_length * cfg.mel.hop_length
               for a in ctx.valid_audio)
    assert len(ctx.train_files) == sum(c.split == "train" for c in corpus.clips)


@pytest.mark.parametrize("recipe, folder", [("ljspeech/hifigan_v1.yaml", "ljspeech"),
                                            ("ljspeech/hifigan_v2.yaml", "ljspeech"),
                                            ("libritts/bigvgan.yaml", "libritts")])
def test_dataset_recipes_validate_on_their_val_list(recipe, folder):
    from audioup.train.config import load_config

    cfg = load_config(REPO / "recipes" / recipe, for_run=False)
    assert cfg.data.valid_files == [str(REPO / "data" / folder / "val.txt")]
    assert cfg.data.valid_count == 0
