import warnings

import numpy as np
import pytest
from scipy.optimize import curve_fit

from reusebench.core import fit

EPOCHS = np.arange(1, 21, dtype="float64")
X = np.tile(EPOCHS, (3, 1))
POWER = {"a": np.array([2.5, 1.0, 0.4]), "b": np.array([-0.7, -0.3, -1.2])}
EXPONENTIAL = {"a": np.array([3.0, 1.2, 0.6]), "b": np.array([0.85, 0.95, 0.7])}
FORMULA = {"pw": lambda x, a, b: a * x**b, "exp": lambda x, a, b: a * b**x}


def exact(model, params):
    return FORMULA[model](EPOCHS[None, :], params["a"][:, None], params["b"][:, None])


@pytest.mark.parametrize("model, params", [("pw", POWER), ("exp", EXPONENTIAL)])
def test_fit_recovers_known_parameters_of_exact_curves_batched(model, params):
    result = fit.fit_curves(model, X, exact(model, params))
    np.testing.assert_allclose(result.a, params["a"], rtol=1e-6)
    np.testing.assert_allclose(result.b, params["b"], rtol=1e-6)
    assert result.status.tolist() == ["ok"] * 3


@pytest.mark.parametrize("model, params", [("pw", POWER), ("exp", EXPONENTIAL)])
def test_predict_reproduces_the_curve(model, params):
    np.testing.assert_allclose(fit.predict(model, params["a"], params["b"], X),
                               exact(model, params), rtol=1e-12)
    result = fit.fit_curves(model, X, exact(model, params))
    np.testing.assert_allclose(fit.predict(model, result.a, result.b, X),
                               exact(model, params), rtol=1e-6)


@pytest.mark.parametrize("model, params", [("pw", POWER), ("exp", EXPONENTIAL)])
def test_fit_matches_scipy_curve_fit_on_noisy_curves(model, params):
    rng = np.random.default_rng(7)
    clean = exact(model, params)
    noisy = clean * np.exp(0.1 * rng.standard_normal(clean.shape)) + 0.05
    result = fit.fit_curves(model, X, noisy)
    assert result.status.tolist() == ["ok"] * 3
    for row in range(3):
        start = (params["a"][row], params["b"][row])
        best, _ = curve_fit(FORMULA[model], EPOCHS, noisy[row], p0=start, maxfev=20000)
        theirs = ((FORMULA[model](EPOCHS, *best) - noisy[row]) ** 2).sum()
        ours = ((FORMULA[model](EPOCHS, result.a[row], result.b[row]) - noisy[row]) ** 2).sum()
        assert ours <= theirs * (1 + 1e-6)  # ours is no worse ...
        assert abs(ours - theirs) <= 1e-6 * theirs  # ... and the same optimum
        np.testing.assert_allclose([result.a[row], result.b[row]], best, rtol=1e-3)


def test_fit_from_scipy_default_start_is_no_worse_than_curve_fit():
    rng = np.random.default_rng(3)
    noisy = 0.3 + 1.5 * EPOCHS**-0.6 * np.exp(0.05 * rng.standard_normal(20))
    result = fit.fit_curves("pw", EPOCHS[None, :], noisy[None, :])
    best, _ = curve_fit(FORMULA["pw"], EPOCHS, noisy, p0=(1.0, 1.0), maxfev=20000)
    theirs = ((FORMULA["pw"](EPOCHS, *best) - noisy) ** 2).sum()
    ours = ((FORMULA["pw"](EPOCHS, result.a[0], result.b[0]) - noisy) ** 2).sum()
    assert ours <= theirs * (1 + 1e-6)


def test_rows_with_different_epochs_are_fitted_each_on_their_own():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [4.0, 12.0, 36.0, 108.0, 200.0]])
    a, b = np.array([2.0, 0.5]), np.array([-0.4, -0.9])
    result = fit.fit_curves("pw", x, a[:, None] * x ** b[:, None])
    np.testing.assert_allclose(result.a, a, rtol=1e-6)
    np.testing.assert_allclose(result.b, b, rtol=1e-6)


def test_row_with_nan_is_reported_without_spoiling_the_batch():
    y = exact("exp", EXPONENTIAL)
    y[1, 4] = np.nan
    y[2, 0] = np.inf
    result = fit.fit_curves("exp", X, y)
    assert result.status.tolist() == ["ok", "nonfinite_input", "nonfinite_input"]
    assert np.isnan(result.a[1:]).all() and np.isnan(result.b[1:]).all()
    assert result.a[0] == pytest.approx(3.0, rel=1e-6)
    assert result.b[0] == pytest.approx(0.85, rel=1e-6)


def test_power_fit_rejects_non_positive_epochs():
    x = np.array([[0.0, 1.0, 2.0]])
    result = fit.fit_curves("pw", x, np.array([[1.0, 0.5, 0.3]]))
    assert result.status.tolist() == ["nonfinite_input"] and np.isnan(result.a[0])


def test_hitting_max_iter_is_reported_and_keeps_parameters():
    rng = np.random.default_rng(0)
    noisy = exact("pw", POWER) * np.exp(0.2 * rng.standard_normal((3, 20))) + 0.1
    result = fit.fit_curves("pw", X, noisy, max_iter=1)
    assert set(result.status) <= {"max_iter", "ok"} and "max_iter" in set(result.status)
    assert np.isfinite(result.a).all() and np.isfinite(result.b).all()


def test_unknown_model_raises():
    with pytest.raises(ValueError, match="unknown convergence model"):
        fit.fit_curves("linear", X, exact("pw", POWER))


def test_overflowing_fit_is_reported_as_failed_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "never a crash": not even under -W error
        result = fit.fit_curves("exp", np.array([[1.0, 2.0]]), np.array([[0.0, 1e4]]))
    assert result.status.tolist() == ["failed"]
    assert np.isnan(result.a[0]) and np.isnan(result.b[0])
