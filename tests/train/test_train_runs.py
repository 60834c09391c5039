"""The real ``audioup train`` entry point on the tiny recipe: steps, resume after SIGKILL,
corrupt-checkpoint fallback, --init-from, non-finite loss, two-process torchrun."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audioup.train.checkpoint import list_checkpoints

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "recipes" / "tiny.yaml"
# the tiny recipe, smaller still: 4-frame segments, no progress bar, one thread per process
FAST = ["train.progress=false", "data.segment_length=1024", "train.validation_interval=1000",
        "train.log_interval=1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def audioup_train(run_dir, *overrides, init_from=None, check=True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "audioup", "train", str(TINY), f"run_dir={run_dir}", *FAST, *overrides]
    if init_from:
        cmd += ["--init-from", str(init_from)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def load(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def steps(run_dir) -> list:
    return [s for s, _ in list_checkpoints(run_dir)]


def assert_same_state(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=atol, rtol=0), k


@pytest.mark.slow
def test_steps_validation_fallback_init_from_and_nan(tmp_path):
    run = tmp_path / "run"
    audioup_train(run, "max_steps=4", "train.checkpoint_interval=2", "train.validation_interval=2")
    assert steps(run) == [2, 4]
    ckpt = load(run / "checkpoints" / "ckpt_00000004.pt")
    assert ckpt["step"] == 4 and ckpt["sample_rate"] == 22050
    # 2 files, batch 2: one step per epoch, so the learning rate decayed 4 times
    assert ckpt["sched_g"]["_last_lr"][0] == pytest.approx(2e-4 * 0.999 ** 4)
    assert ckpt["optim_g"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.999 ** 4)
    assert any((run / "logs").iterdir()) and (run / "config.yaml").is_file()

    # a corrupt newest checkpoint: reported, the previous one is used
    newest = run / "checkpoints" / "ckpt_00000004.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    proc = audioup_train(run, "max_steps=3", "train.checkpoint_interval=2")
    out = proc.stdout + proc.stderr
    assert "ckpt_00000004.pt: corrupt" in out and "falling back" in out
    assert "ckpt_00000002.pt (step 2)" in out
    assert steps(run) == [2, 3] and (run / "checkpoints" / "ckpt_00000004.pt.corrupt").is_file()

    # --init-from: weights only, fresh optimizer and step 0; with a negligible lr (0 is refused)
    # the weights stay put
    tuned = tmp_path / "tuned"
    audioup_train(tuned, "max_steps=1", "optim.lr=1e-30", init_from=run / "checkpoints" / "ckpt_00000002.pt")
    fine = load(tuned / "checkpoints" / "ckpt_00000001.pt")
    assert fine["step"] == 1
    assert_same_state(fine["generator"], load(run / "checkpoints" / "ckpt_00000002.pt")["generator"],
                      atol=1e-20)

    # a NaN loss stops the run naming the step, and leaves the good checkpoints alone
    before = steps(run)
    # (a NaN weight is refused by the config check; 1e300 overflows float32 to inf)
    proc = audioup_train(run, "max_steps=10", "loss.mel=1e300", check=False)
    assert proc.returncode == 1
    assert "non-finite generator loss" in proc.stderr and "at step 4" in proc.stderr
    assert steps(run) == before


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "audioup", "train", str(TINY), f"run_dir={run}", *FAST,
           "max_steps=1000", "train.checkpoint_interval=2", "train.keep_last=5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        deadline = time.time() + 240
        while not [s for s in steps(run) if s >= 4] and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    newest = steps(run)[-1]
    assert newest >= 4
    saved = load(run / "checkpoints" / f"ckpt_{newest:08d}.pt")

    # restarting with max_steps at the checkpoint only restores it: the state written back is its own
    target = newest + 2
    proc = audioup_train(run, f"max_steps={target}", "train.checkpoint_interval=2", "train.keep_last=5")
    assert f"(step {newest})" in proc.stdout
    resumed = load(run / "checkpoints" / f"ckpt_{target:08d}.pt")
    assert resumed["step"] == target
    assert_same_state(load(run / "checkpoints" / f"ckpt_{newest:08d}.pt")["generator"], saved["generator"])

    # the same number of steps without interruption gives the same weights and learning rate
    reference = tmp_path / "reference"
    audioup_train(reference, f"max_steps={target}", "train.checkpoint_interval=2")
    expected = load(reference / "checkpoints" / f"ckpt_{target:08d}.pt")
    assert_same_state(resumed["generator"], expected["generator"], atol=1e-6)
    assert_same_state(resumed["discriminator"], expected["discriminator"], atol=1e-6)
    assert resumed["sched_g"]["_last_lr"][0] == pytest.approx(2e-4 * 0.999 ** target)


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_process_torchrun_keeps_ranks_identical(tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "audioup", "train", str(TINY), f"run_dir={run}", *FAST, "max_steps=2",
           "train.batch_size=1", "train.write_rank_states=true"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rank0, rank1 = load(run / "ranks" / "rank0.pt"), load(run / "ranks" / "rank1.pt")
    assert_same_state(rank0, rank1)
    assert_same_state(load(run / "checkpoints" / "ckpt_00000002.pt")["generator"], rank0)


@pytest.mark.slow
def test_max_minutes_stops_with_a_checkpoint_and_counts_over_resumes(tmp_path):
    """train.max_minutes ends the run at the first step past the budget, saves it, records the
    time spent, and a resume counts that time: a spent budget does nothing, a larger one goes on."""
    run = tmp_path / "run"
    budget = ["max_steps=100000", "train.checkpoint_interval=100000"]
    first = audioup_train(run, *budget, "train.max_minutes=0.02")
    [n] = steps(run)
    ckpt = load(run / "checkpoints" / f"ckpt_{n:08d}.pt")
    assert 0 < n < 100000 and ckpt["step"] == n
    assert 1.2 <= ckpt["train_seconds"] < 60.0
    assert f"reached at step {n}" in first.stdout + first.stderr
    again = audioup_train(run, *budget, "train.max_minutes=0.02")
    assert "nothing to do" in again.stdout + again.stderr and steps(run) == [n]
    audioup_train(run, *budget, "train.max_minutes=0.04")
    [m] = steps(run)[-1:]
    later = load(run / "checkpoints" / f"ckpt_{m:08d}.pt")
    assert m > n and later["train_seconds"] >= 2.4 > ckpt["train_seconds"]


def test_cpu_clock_does_not_count_time_spent_waiting():
    """train.clock=cpu counts this process's CPU time (over its threads): a pause, like time taken
    by other processes on a shared machine, does not use up the budget; the wall clock does."""
    from audioup.train.config import load_config
    from audioup.train.loop import _budget_timer

    cfg = load_config(TINY, ["run_dir=unused", "train.clock=cpu"], for_run=False)
    wall = _budget_timer(load_config(TINY, ["run_dir=unused"], for_run=False))
    cpu = _budget_timer(cfg)
    c0, w0 = cpu(), wall()
    time.sleep(0.3)
    assert wall() - w0 >= 0.3 and cpu() - c0 < 0.05
    c0 = cpu()
    busy = time.process_time() + 0.2
    while time.process_time() < busy:
        pass
    assert cpu() - c0 >= 0.2 / max(1, torch.get_num_threads()) * 0.9
