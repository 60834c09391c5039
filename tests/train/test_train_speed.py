"""The fast training step on CPU: same losses as a textbook step, bounded ops and host syncs per
step, non-finite losses still caught (with the step named) although checked only every few steps."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.nn.utils import parametrize

from audioup.models.losses import discriminator_loss, feature_matching_loss, generator_adversarial_loss, mel_l1_loss
from audioup.train.checkpoint import list_checkpoints
from audioup.train.config import ConfigError, load_config
from audioup.train.distributed import DistInfo
from audioup.train.loop import LossMonitor, TrainingError, new_state, restore, save, train, train_step
from audioup.train.profiling import profile_steps, run_steps
from audioup.train.setup import build_context
from audioup.train.speed import apply_speed_options, cpu_threads, optimizer_flags

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "recipes" / "tiny.yaml"
SEGMENT = 1024


def tiny_config(tmp_path, *overrides):
    return load_config(TINY, [f"run_dir={tmp_path / 'run'}", "train.progress=false",
                              f"data.segment_length={SEGMENT}", *overrides])


def tiny_context(cfg, seed: int = 0):
    torch.manual_seed(seed)
    ctx = build_context(cfg, torch.device("cpu"), DistInfo(), log=lambda *_: None)
    apply_speed_options(ctx)
    return ctx


def batches(n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [0.3 * torch.randn(2, SEGMENT, generator=g) for _ in range(n)]


def textbook_step(g, d, opt_g, opt_d, batch, ctx):
    """HiFi-GAN's step written plainly: per-tensor AdamW and clipping, D trainable throughout."""
    real = batch.unsqueeze(1)
    with torch.no_grad():
        mel_in, mel_real = ctx.mel(real), ctx.loss_mel(real)
    fake = g(mel_in)
    logits, _ = d(torch.cat([real, fake.detach()]))
    loss_d = discriminator_loss([x.chunk(2)[0] for x in logits], [x.chunk(2)[1] for x in logits])
    opt_d.zero_grad()
    loss_d.backward()
    torch.nn.utils.clip_grad_norm_(d.parameters(), 1000.0, foreach=False)
    opt_d.step()
    logits, features = d(torch.cat([real, fake]))
    adversarial = generator_adversarial_loss([x.chunk(2)[1] for x in logits])
    matching = feature_matching_loss([[f.chunk(2)[0] for f in fs] for fs in features],
                                     [[f.chunk(2)[1] for f in fs] for fs in features])
    loss_g = adversarial + 2 * matching + 45 * mel_l1_loss(ctx.loss_mel(fake), mel_real)
    opt_g.zero_grad()
    loss_g.backward()
    torch.nn.utils.clip_grad_norm_(g.parameters(), 1000.0, foreach=False)
    opt_g.step()
    return [loss_d.item(), loss_g.item()]


@pytest.mark.parametrize("implementation", ["foreach", "fused"])
def test_fast_step_gives_the_textbook_losses_and_weights(tmp_path, implementation):
    fast_ctx = tiny_context(tiny_config(tmp_path, f"optim.implementation={implementation}"))
    state = new_state(fast_ctx.cfg, fast_ctx)
    ref_ctx = tiny_context(tiny_config(tmp_path))
    g, d = ref_ctx.generator, ref_ctx.discriminator
    opt_g = torch.optim.AdamW(g.parameters(), 2e-4, betas=(0.8, 0.99), weight_decay=0.01, foreach=False)
    opt_d = torch.optim.AdamW(d.parameters(), 2e-4, betas=(0.8, 0.99), weight_decay=0.01, foreach=False)
    for batch in batches(3):
        losses = train_step(state, batch, fast_ctx)
        expected = textbook_step(g, d, opt_g, opt_d, batch, ref_ctx)
        assert [losses["d/total"].item(), losses["g/total"].item()] == pytest.approx(expected, rel=1e-4)
        assert math.isfinite(losses["grad_norm/generator"].item()) and losses["grad_norm/generator"] > 0
    for fast, ref in ((fast_ctx.generator, g), (fast_ctx.discriminator, d)):
        for (name, a), b in zip(fast.state_dict().items(), ref.state_dict().values()):
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), name
    assert all(p.requires_grad for p in fast_ctx.discriminator.parameters())  # unfrozen after the step


def test_ops_syncs_and_weight_norms_per_step_are_bounded(tmp_path):
    counts = {}
    for name, impl, interval, steps in (("plain", "for-loop", 1, 2), ("fast", "auto", 4, 4)):
        ctx = tiny_context(tiny_config(tmp_path, f"optim.implementation={impl}"))
        state = new_state(ctx.cfg, ctx)
        run_steps(state, ctx, batches(1), interval)  # warm-up: optimizer state is created lazily
        counts[name] = profile_steps(state, ctx, batches(steps, seed=2), interval)
    fast, plain = counts["fast"], counts["plain"]
    # ~2,800 ATen ops per step for the tiny model (G + MPD + MSD); the landed step had ~5,900
    assert fast.ops < 3000 and fast.ops < 0.6 * plain.ops
    # the only host read is the monitor's check, every 4th step here; plain reads every step
    assert fast.syncs == pytest.approx(0.25) and plain.syncs == pytest.approx(1.0)
    # weight norm once per parametrised convolution call: G once, D twice (its weights change between)
    n_g, n_d = (sum(parametrize.is_parametrized(m, "weight")
                    and type(m.parametrizations.weight[0]).__name__ == "_WeightNorm"
                    for m in model.modules()) for model in (ctx.generator, ctx.discriminator))
    assert n_g > 10 and n_d > 10
    assert fast.weight_norms == n_g + 2 * n_d


def test_cpu_threads_sets_the_count_inside_the_block_and_restores_it():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with cpu_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before


def test_monitor_names_the_first_non_finite_step_only_when_checked():
    monitor = LossMonitor(step=0)
    for step in range(1, 6):
        value = float("nan") if step >= 3 else 1.0
        monitor.update(step, {"d/total": torch.tensor(0.5), "g/total": torch.tensor(value)})
        if step == 2:
            assert monitor.check(2) == {"d/total": 0.5, "g/total": 1.0}
    with pytest.raises(TrainingError, match=r"non-finite generator loss at step 3 \(found checking steps 3-5\)"):
        monitor.check(5)


def test_non_finite_loss_between_checks_stops_before_the_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, "max_steps=2", "train.checkpoint_interval=2", "train.validation_interval=100")
    run = train(cfg, log=lambda *_: None)
    good = list_checkpoints(run)
    assert [s for s, _ in good] == [2]
    before = good[0][1].read_bytes()
    # non-finite from step 3 on; checked at the log step (5) or the checkpoint (4), whichever comes first
    cfg = tiny_config(tmp_path, "max_steps=8", "train.checkpoint_interval=4", "train.log_interval=5",
                      "train.validation_interval=100", "loss.mel=1e300")  # inf in float32
    with pytest.raises(TrainingError, match=r"non-finite generator loss at step 3 \(found checking steps 3-4\)"):
        train(cfg, log=lambda *_: None)
    assert [s for s, _ in list_checkpoints(run)] == [2]
    assert good[0][1].read_bytes() == before


def losses_of_two_steps(tmp_path, *overrides) -> list:
    ctx = tiny_context(tiny_config(tmp_path, *overrides))
    state = new_state(ctx.cfg, ctx)
    return [v.item() for b in batches(2) for v in train_step(state, b, ctx).values()]


def test_channels_last_gives_the_same_losses(tmp_path):
    assert losses_of_two_steps(tmp_path, "train.channels_last=true") == \
        pytest.approx(losses_of_two_steps(tmp_path), rel=1e-4, abs=1e-6)


def test_resume_with_another_optimizer_implementation_continues_the_same_run(tmp_path):
    """Flags saved in a checkpoint's optimizer state do not override the configured ones."""
    ctx = tiny_context(tiny_config(tmp_path, "optim.implementation=for-loop"))
    state = new_state(ctx.cfg, ctx)
    run_steps(state, ctx, batches(1), 1)
    path = save(state, ctx, tmp_path / "run", keep_last=1)
    after = {}
    for impl in ("for-loop", "fused"):
        other = tiny_context(tiny_config(tmp_path, f"optim.implementation={impl}"))
        resumed = new_state(other.cfg, other)
        # a fresh load each time: the optimizer adopts the loaded tensors and steps them in place
        restore(resumed, torch.load(path, weights_only=True), other, full=True)
        group = resumed.optim_g.param_groups[0]
        assert (group["fused"], group["foreach"]) == (impl == "fused", False)
        run_steps(resumed, other, batches(1, seed=5), 1)
        after[impl] = other.generator.state_dict()
    for k, v in after["for-loop"].items():
        assert torch.allclose(v, after["fused"][k], atol=1e-6), k


def test_unknown_speed_settings_are_config_errors_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="optim.implementation must be one of auto, fused"):
        optimizer_flags("fastest", torch.device("cpu"))
    assert optimizer_flags("auto", torch.device("cpu")) == {"fused": True, "foreach": False}
    with pytest.raises(ConfigError, match="train.compile must be null or one of default"):
        tiny_context(tiny_config(tmp_path, "train.compile=fast"))


@pytest.mark.slow
def test_compiled_step_gives_the_same_losses(tmp_path, monkeypatch):
    """Dynamo capture + AOT autograd on CPU (inductor's C++ code generation takes many minutes
    on a 2-core machine, so the graphs run through ``aot_eager``)."""
    compile_module = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile",
                        lambda self, **kw: compile_module(self, backend="aot_eager", **kw))
    assert losses_of_two_steps(tmp_path, "train.compile=default") == \
        pytest.approx(losses_of_two_steps(tmp_path), rel=1e-3, abs=1e-5)
