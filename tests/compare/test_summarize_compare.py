"""benchmarks/summarize_compare.py: a comparison folder's records as one table, STOI included."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("summarize_compare", REPO / "benchmarks" / "summarize_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(kind, step, **values):
    base = {"kind": kind, "step": step, "params": 856_100, "tonal_score_db": 9.5, "tonal_max_db": 36.3,
            "level_db": -3.8, "mel_l1": 0.848, "mrstft": 2.152, "pesq_wb": None, "stoi": 0.546,
            "per_layer": {"layer1": {"factor": 8, "mean_db": 1.25}}, "files": [{"big": "x" * 1000}]}
    return {**base, **values}


def test_rows_table_and_compact_json(tmp_path, capsys):
    out = tmp_path / "cmp"
    for stage, kind, record in (("budget_12min", "vocos", _record("vocos", 1496, stoi=0.677, train_minutes=12.0)),
                                ("budget_12min", "transposed", {"kind": "transposed", "step": 5, "error": "nan loss\nmore"}),
                                ("step_00000000", "vocos", _record("vocos", 0))):
        (out / "results" / stage).mkdir(parents=True, exist_ok=True)
        (out / "results" / stage / f"{kind}.json").write_text(json.dumps(record))
    summary = tmp_path / "s.json"
    assert _script().main([str(out), "--json", str(summary)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| budget_12min | transposed | failed: nan loss |")
    assert lines[3] == ("| budget_12min | vocos | 1496 | 0.86M | 9.5 | 36.3 | -3.8 | 0.848 | 2.152 | n/a | 0.677 |")
    assert lines[4].startswith("| step_00000000 | vocos | 0 |")
    rows = json.loads(summary.read_text())
    assert rows[1]["train_minutes"] == 12.0 and rows[1]["per_layer"] == {"layer1": 1.25}
    assert "files" not in rows[1] and summary.stat().st_size < 2000


def test_a_folder_without_results_is_named(tmp_path, capsys):
    assert _script().main([str(tmp_path)]) == 1
    assert "not an audioup compare folder" in capsys.readouterr().err
