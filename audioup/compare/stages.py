"""The stages a comparison evaluates every kind at.

A stage is a number of training steps (``0``: at initialisation) or, with ``audioup compare
--minutes M``, a training-time budget ``"Mmin"``: every kind trains for the same M minutes
(``train.max_minutes``) and stops at whatever step that takes it to, so a kind whose step
is cheap gets more of them.

    >>> stage_dir(0), stage_dir(budget_stage(7.5))
    ('step_00000000', 'budget_7.5min')
    >>> stage_words(2000), stage_words("7.5min")
    ('after 2000 steps', 'after 7.5 min of training')
"""
from __future__ import annotations

from typing import Union

Stage = Union[int, str]


def budget_stage(minutes: float) -> str:
    return f"{minutes:g}min"


def is_budget(stage: Stage) -> bool:
    return isinstance(stage, str)


def is_trained(stage: Stage) -> bool:
    return is_budget(stage) or stage > 0


def stage_dir(stage: Stage) -> str:
    """The folder name of a stage's results and audio."""
    return f"budget_{stage}" if is_budget(stage) else f"step_{stage:08d}"


def stage_words(stage: Stage) -> str:
    if is_budget(stage):
        return f"after {stage[:-3]} min of training"
    return "at initialisation" if stage == 0 else f"after {stage} step{'s' * (stage != 1)}"


def stage_title(stage: Stage) -> str:
    if is_budget(stage):
        return f"After {stage[:-3]} minutes of training per kind (each kind's step count beside its name)"
    return "At initialisation (step 0)" if stage == 0 else f"After {stage} training step{'s' * (stage != 1)}"
