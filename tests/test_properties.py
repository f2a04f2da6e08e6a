import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reusebench.core.curves import validate_curves
from reusebench.core.metrics import epoch_at, model_error, per_run_metrics, stability, uniformity
from reusebench.core.pairs import pair_metrics

losses = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)
curve = st.lists(losses, min_size=1, max_size=30)


def as_row(values):
    values = np.asarray([values], dtype="float64")
    epoch = np.arange(1, values.shape[1] + 1, dtype="float64")[None, :]
    return values, epoch, np.ones(values.shape, dtype=bool)


@settings(max_examples=100, deadline=None)
@given(test=curve, delta=st.integers(min_value=0, max_value=10))
def test_stability_is_never_negative_for_finite_curves(test, delta):
    values, epoch, valid = as_row(test)
    m_er, position = model_error(values, valid)
    m_stab, window = stability(values, epoch, valid, m_er, epoch_at(epoch, position), delta)
    assert m_stab[0] >= 0
    assert 1 <= window[0] <= min(2 * delta + 1, len(test))


@settings(max_examples=100, deadline=None)
@given(pair=st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.tuples(st.lists(losses, min_size=n, max_size=n),
                        st.lists(losses, min_size=n, max_size=n))))
def test_uniformity_is_a_correlation_in_minus_one_to_one_or_nan(pair):
    train, test = pair
    d_unif = uniformity(as_row(train)[0], as_row(test)[0], as_row(test)[2])[0]
    assert np.isnan(d_unif) or -1.0 <= d_unif <= 1.0
    if len(set(train)) == 1 or len(set(test)) == 1:
        assert np.isnan(d_unif)  # a constant curve has no correlation


def forward_and_swapped(run, curves, first, second):
    """The data pair of two curves, once with ``first`` random and once with it pretrained."""
    runs = [run([1.0] * len(test), test, init=init, dataset=dataset)
            for dataset, inits in [("forward", ("random", "coco")), ("swapped", ("coco", "random"))]
            for init, test in zip(inits, (first, second), strict=True)]
    table = validate_curves(curves(*runs), "memory")
    pairs, _ = pair_metrics(table, per_run_metrics(table, fit_points=(2,)))
    assert pairs["kind"].tolist() == ["data", "data"]
    return pairs.set_index("dataset").loc["forward"], pairs.set_index("dataset").loc["swapped"]


@settings(max_examples=25, deadline=None)
@given(first=st.lists(losses, min_size=1, max_size=12),
       second=st.lists(losses, min_size=1, max_size=12))
def test_swapping_which_run_is_random_negates_g_init_and_d_init(make_run, make_curves, first,
                                                                 second):
    forward, swapped = forward_and_swapped(make_run, make_curves, first, second)
    assert forward["g_init"] == pytest.approx(min(first) - min(second))
    assert swapped["g_init"] == pytest.approx(-forward["g_init"])
    assert swapped["d_init"] == pytest.approx(-forward["d_init"])
    assert forward["n_common_epochs"] == swapped["n_common_epochs"] == min(len(first),
                                                                           len(second))
