"""``audioup demo`` in its quick mode (2 training steps) writes the report, figures and table."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KINDS = ("transposed", "resize-nearest", "resize-linear", "subpixel-icnr", "sinc")


@pytest.mark.slow
def test_demo_quick_writes_report_and_prints_tables(tmp_path, capsys):
    import torch

    from audioup.cli import main

    torch.set_num_threads(2)  # the recipe says 1: compare and train hold that only while they run
    out = tmp_path / "demo"
    try:
        code = main(["demo", "--quick", "--out", str(out), "--corpus", str(tmp_path / "corpus")])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    printed = capsys.readouterr().out
    assert code == 0
    for stage in ("[1/4]", "[2/4]", "[3/4]", "[4/4]"):
        assert stage in printed
    assert "At initialisation (step 0):" in printed and "After 2 training steps:" in printed
    table = printed.split("At initialisation (step 0):")[1]
    rows = [line.split() for line in table.splitlines() if line.split()[:1] and line.split()[0] in KINDS]
    assert [r[0] for r in rows] == list(KINDS) * 2
    assert all(re.fullmatch(r"[\d.]+[kM]", r[1]) for r in rows)  # parameter counts

    report = (out / "report.md").read_text()
    assert report.startswith("# audioup demo")
    assert "## What this run can and cannot show" in report and "cannot show" in report
    for heading in ("## At initialisation (step 0)", "## After 2 training steps"):
        section = report.split(heading)[1].split("\n## ")[0]
        table_rows = [l for l in section.splitlines() if l.startswith("| ") and l.split("|")[1].strip() in KINDS]
        assert len(table_rows) == len(KINDS)
    for name in ("spectra.png", "per_layer.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in report
    assert (tmp_path / "corpus" / "test.txt").is_file()


def test_demo_refuses_a_corpus_folder_holding_other_files(tmp_path, capsys):
    from audioup.cli import main

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "mine.txt").write_text("not a corpus")
    code = main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--corpus", str(tmp_path / "corpus")])
    err = capsys.readouterr().err
    assert code == 1
    assert "corpus" in err and "--corpus" in err
    assert not (tmp_path / "demo").exists()


def test_demo_corpus_goes_beside_out_not_into_the_package(tmp_path, capsys):
    """Without --corpus the corpus folder is OUT/../corpus (here refused: it holds other files)."""
    import audioup
    from audioup.cli import main

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "mine.txt").write_text("not a corpus")
    package_root = Path(audioup.__file__).resolve().parents[1]
    before = sorted(p.name for p in (package_root / "data").iterdir())
    code = main(["demo", "--quick", "--out", str(tmp_path / "demo")])
    err = capsys.readouterr().err
    assert code == 1
    assert str(tmp_path / "corpus") in err
    assert sorted(p.name for p in (package_root / "data").iterdir()) == before


def test_demo_refuses_the_corpus_folder_as_its_output(tmp_path, capsys):
    from audioup.cli import main

    code = main(["demo", "--quick", "--out", str(tmp_path / "same"), "--corpus", str(tmp_path / "same")])
    assert code == 1 and "is the corpus folder" in capsys.readouterr().err
    assert not (tmp_path / "same").exists()  # refused before the corpus was built
