"""Under torchrun a command's error ends the output: it goes into the launcher's error file,
which torchrun's failure summary prints as the failed rank's `traceback` (issue 23)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from audioup.cli import main

TINY = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"


def test_the_error_goes_to_torchruns_error_file(tmp_path, monkeypatch, capsys):
    error_file = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    assert main(["train", str(TINY), f"run_dir={tmp_path / 'run'}", "optim.lr=5"]) == 1
    message = "audioup train: error: optim.lr must be in (0, 1] (got 5.0)"
    assert message in capsys.readouterr().err
    assert json.loads(error_file.read_text())["message"] == message
    # as torchrun reads it for the "Root Cause" box
    errors = pytest.importorskip("torch.distributed.elastic.multiprocessing.errors")
    failure = errors.ProcessFailure(local_rank=0, pid=1, exitcode=1, error_file=str(error_file))
    assert failure.message == message


def test_outside_torchrun_nothing_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TORCHELASTIC_ERROR_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(TINY), f"run_dir={tmp_path / 'run'}", "optim.lr=5"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []
