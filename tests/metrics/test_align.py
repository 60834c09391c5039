"""Finding the part of a longer reference that holds a file's content (metrics/align.py)."""
import numpy as np
import pytest

from audioup.audio import load_audio
from audioup.metrics.align import matching_span

SR = 22050


@pytest.fixture(scope="module")
def utterances(arctic_files):
    return [load_audio(p, sample_rate=SR).samples.astype(np.float64) for p in arctic_files]


@pytest.mark.parametrize("start", [0, 1234, 33075, 90001])
def test_an_excerpt_is_found_to_the_sample(utterances, start):
    ref = np.concatenate(utterances)
    part = ref[start:start + 2 * SR]
    assert matching_span(part, ref, SR) == (start, start + 2 * SR)


def test_a_filtered_noisy_delayed_copy_is_found(utterances):
    ref = np.concatenate(utterances)
    part = np.convolve(ref[33075:33075 + 2 * SR], [0.5, 0.3, 0.2], mode="same")
    part = np.r_[np.zeros(37), part[:-37]] + 0.003 * np.random.default_rng(1).standard_normal(len(part))
    assert matching_span(part, ref, SR) == (33075 - 37, 33075 - 37 + 2 * SR)


def test_other_content_and_equal_lengths_give_none(utterances):
    a, b = utterances
    assert matching_span(a[:2 * SR], b, SR) is None  # other speech: no span
    assert matching_span(np.random.default_rng(2).standard_normal(2 * SR), a, SR) is None
    assert matching_span(a, a, SR) is None  # nothing to choose
    assert matching_span(a[:-100], a, SR) is None  # within one envelope frame
