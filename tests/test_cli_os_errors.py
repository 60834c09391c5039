"""OS errors end in one line ``audioup CMD: error: PATH: problem`` and a non-zero exit, never a traceback.

Read-only folders and full disks are simulated (the suite runs where mounting a tmpfs is not
allowed); ``benchmarks/probe_reliability.py`` replays the same classes on real ones.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import audioup.audio.fs as fs
from audioup.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def read_only(monkeypatch):
    """Every new file atomic_write makes fails as on a read-only file system."""
    def refuse(**kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    monkeypatch.setattr(fs.tempfile, "mkstemp", refuse)


@pytest.fixture
def disk_full(monkeypatch):
    """Every file atomic_write writes runs out of space after its first bytes."""
    real = fs.os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(fs.os, "fdopen", lambda *a, **k: Full(real(*a, **k)))


def _one_line(err: str, command: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert "Traceback" not in err
    assert lines and lines[-1].startswith(f"audioup {command}: error: "), err
    return lines[-1]


def test_mel_out_on_a_read_only_folder(tmp_path, arctic_files, read_only, capsys):
    rc = main(["mel", str(arctic_files[0]), "--out", str(tmp_path / "mels"), "--quiet"])
    line = _one_line(capsys.readouterr().err, "mel")
    assert rc == 1 and "Read-only file system" in line and "arctic_a0007.npy" in line


def test_mel_out_on_a_full_disk_names_the_file(tmp_path, arctic_files, disk_full, capsys):
    rc = main(["mel", str(arctic_files[0]), "--out", str(tmp_path / "mels"), "--quiet"])
    line = _one_line(capsys.readouterr().err, "mel")
    assert rc == 1 and f"{tmp_path / 'mels' / 'arctic_a0007.npy'}: disk full while writing" in line
    assert list((tmp_path / "mels").iterdir()) == []  # no half-written .npy, no temporary


@pytest.mark.parametrize("out", ["file", "file/below"])
def test_mel_out_that_is_or_is_below_a_file_is_refused_up_front(tmp_path, arctic_files, out, capsys):
    (tmp_path / "file").write_text("keep")
    rc = main(["mel", str(arctic_files[0]), "--out", str(tmp_path / out), "--quiet"])
    line = _one_line(capsys.readouterr().err, "mel")
    assert rc == 1 and "is a file, not a folder" in line and (tmp_path / "file").read_text() == "keep"


def test_layers_json_read_only_and_full(tmp_path, read_only, capsys):
    rc = main(["layers", "--factor", "2", "--in-channels", "4", "--out-channels", "4",
               "--json", str(tmp_path / "l.json")])
    line = _one_line(capsys.readouterr().err, "layers")
    assert rc == 1 and line.endswith(f"{tmp_path / 'l.json'}: Read-only file system")


def test_analyze_plot_on_a_full_disk(tmp_path, disk_full, capsys):
    rc = main(["analyze", "--kind", "transposed", "--factor", "2", "--plot", str(tmp_path / "p")])
    line = _one_line(capsys.readouterr().err, "analyze")
    assert rc == 1 and "overlap.png: disk full while writing" in line


def test_analyze_json_onto_a_device_node_keeps_the_node(tmp_path, capsys):
    import stat

    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    rc = main(["analyze", "--kind", "transposed", "--factor", "2", "--json", str(node), "--force"])
    assert rc == 0 and stat.S_ISCHR(os.lstat(node).st_mode)


def test_demo_corpus_below_a_file_is_refused_before_work(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--corpus", str(tmp_path / "f" / "corpus")])
    line = _one_line(capsys.readouterr().err, "demo")
    assert rc == 1 and f"{tmp_path / 'f'} is a file, not a folder" in line
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("content, problem", [("[1, 2]", r"not a result record \(a JSON list\)"),
                                              ('{"kind": "transp', "unreadable result")])
def test_a_result_json_that_is_a_list_or_truncated_is_named(tmp_path, content, problem):
    from audioup.compare.runner import CompareError, read_result

    path = tmp_path / "transposed.json"
    path.write_text(content)
    with pytest.raises(CompareError, match=problem) as err:
        read_result(path)
    assert str(err.value).startswith(f"{path}: ")


def test_a_report_md_that_is_a_folder_is_one_line(tmp_path, capsys, monkeypatch):
    """What compare meets when OUT/report.md is a folder: the dispatcher's line, the folder kept."""
    import audioup.commands.layers as layers

    (tmp_path / "report.md").mkdir()
    monkeypatch.setattr(layers, "check_output_path", lambda *a, **k: None)  # reach the write itself
    rc = main(["layers", "--factor", "2", "--in-channels", "4", "--out-channels", "4",
               "--json", str(tmp_path / "report.md")])
    line = _one_line(capsys.readouterr().err, "layers")
    assert rc == 1 and line.endswith(f"{tmp_path / 'report.md'}: is a folder, not a file")
    assert (tmp_path / "report.md").is_dir()


def test_ctrl_c_during_the_start_up_imports_is_130_without_traceback(monkeypatch, capsys):
    import importlib

    def interrupted(name, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib, "import_module", interrupted)
    assert main(["vocode", "--help"]) == 130
    assert capsys.readouterr().err.strip() == "audioup vocode: interrupted"


def _run(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "audioup", *args], cwd=ROOT, env=env,
                          stderr=subprocess.PIPE, timeout=300, **kwargs)


def test_help_onto_a_full_stdout_is_an_error_not_exit_0():
    with open("/dev/full", "w") as full:
        proc = _run(["--help"], stdout=full)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "audioup: error: stdout: No space left on device"


def test_a_closed_stdout_pipe_ends_quietly_with_141(arctic_files):
    proc = subprocess.Popen([sys.executable, "-m", "audioup", "measure", str(arctic_files[0]), "--quiet",
                             "--no-optional"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `| true`: the reader is gone before anything is printed
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 141 and err == b""


def test_measure_onto_a_full_stdout_says_so():
    with open("/dev/full", "w") as full:
        proc = _run(["measure", "data/cmu_arctic/arctic_a0007.wav", "--quiet", "--no-optional"], stdout=full)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().splitlines()[-1] == "audioup measure: error: stdout: No space left on device"


def test_a_strict_stdout_prints_a_name_that_is_not_utf8(tmp_path, arctic_files):
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff\xfe.wav")
    with open(arctic_files[0], "rb") as src, open(bad, "wb") as dst:
        dst.write(src.read())
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8:strict")
    proc = subprocess.run([sys.executable, "-m", "audioup", "measure", bad, "--quiet", "--no-optional",
                           "--json", str(tmp_path / "o.json")], cwd=ROOT, env=env,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"bad\\xff\\xfe.wav" in proc.stdout  # shown escaped; the file itself was measured
    record = json.loads((tmp_path / "o.json").read_text())[0]
    assert os.fsencode(record["path"]) == bad and record["tonal_score_db"] is not None


def test_compare_refuses_a_report_md_that_is_a_folder_before_training(tmp_path, arctic_files, capsys):
    (tmp_path / "cmp" / "report.md").mkdir(parents=True)
    rc = main(["compare", str(ROOT / "recipes" / "tiny.yaml"), "--out", str(tmp_path / "cmp"), "--init-only",
               "--test", str(arctic_files[0])])
    line = _one_line(capsys.readouterr().err, "compare")
    assert rc == 1 and line.endswith(f"{tmp_path / 'cmp' / 'report.md'}: is a folder, not a file")
    assert sorted(os.listdir(tmp_path / "cmp")) == ["report.md"]
