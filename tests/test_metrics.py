import warnings

import numpy as np
import pandas as pd
import pytest

from reusebench.core.curves import validate_curves
from reusebench.core.errors import InputError
from reusebench.core.metrics import coefficient_of_variation, per_run_metrics

SIX = [f"delta_fit_{m}_{n}" for n in (10, 15, 20) for m in ("pw", "exp")]
CURVE = [0.9, 0.5, 0.3, 0.4, 0.6]  # minimum 0.3 at epoch 3
TRAIN = [1.0, 0.6, 0.35, 0.3, 0.25]


@pytest.fixture
def metrics_of(make_run):
    """Per-run metrics of one run (a Series) built from train/test lists."""

    def compute(train, test, *, delta=5, fit_points=(10, 15, 20), **extra):
        curves = validate_curves(make_run(train, test, **extra), "memory")
        return per_run_metrics(curves, delta=delta, fit_points=fit_points).iloc[0]

    return compute


def test_model_error_is_the_minimum_and_ep_star_its_one_based_epoch(metrics_of):
    row = metrics_of(TRAIN, CURVE)
    assert row["m_er"] == 0.3  # min(0.9, 0.5, 0.3, 0.4, 0.6)
    assert row["ep_star"] == 3  # third epoch, not position 2
    assert row["n_epochs"] == 5


def test_ep_star_is_the_first_of_tied_minima(metrics_of):
    row = metrics_of([1.0] * 5, [0.8, 0.2, 0.5, 0.2, 0.6])
    assert (row["m_er"], row["ep_star"]) == (0.2, 2)


def test_sparse_epoch_numbers_are_rejected_not_used_as_positions(metrics_of):
    # ep*, EP and the windows count epochs from 1, so a curve logged every few epochs has
    # no well-defined metrics: it is refused (see validate_curves) rather than renumbered.
    with pytest.raises(InputError, match="epochs start at 4, not 1"):
        metrics_of([1.0, 0.8, 0.6], [0.7, 0.4, 0.5], epochs=[4, 12, 36])


def test_stability_sums_the_excess_over_the_window(metrics_of):
    row = metrics_of(TRAIN, CURVE, delta=1)
    expected = (0.5 - 0.3) + (0.3 - 0.3) + (0.4 - 0.3)  # epochs 2..4
    assert row["m_stab"] == pytest.approx(expected)
    assert row["stab_window"] == 3


def test_stability_delta_is_configurable(metrics_of):
    wide = metrics_of(TRAIN, CURVE, delta=2)
    expected = (0.9 - 0.3) + (0.5 - 0.3) + 0.0 + (0.4 - 0.3) + (0.6 - 0.3)  # epochs 1..5
    assert wide["m_stab"] == pytest.approx(expected)
    assert wide["stab_window"] == 5
    narrow = metrics_of(TRAIN, CURVE, delta=0)
    assert (narrow["m_stab"], narrow["stab_window"]) == (0.0, 1)


def test_stability_window_is_clipped_at_first_epoch(metrics_of):
    test = [0.1, 0.2, 0.4, 0.3, 0.5, 0.6, 0.7, 0.8]
    row = metrics_of([1.0] * 8, test, delta=2)
    # window [1-2, 1+2] ∩ [1, 8] = epochs 1..3
    assert row["m_stab"] == pytest.approx((0.1 - 0.1) + (0.2 - 0.1) + (0.4 - 0.1))
    assert row["stab_window"] == 3
    default = metrics_of([1.0] * 8, test)  # δ = 5: epochs 1..6
    assert default["m_stab"] == pytest.approx(0.0 + 0.1 + 0.3 + 0.2 + 0.4 + 0.5)
    assert default["stab_window"] == 6


def test_stability_window_is_clipped_at_last_epoch(metrics_of):
    test = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    row = metrics_of([1.0] * 8, test, delta=2)
    # window [8-2, 8+2] ∩ [1, 8] = epochs 6..8
    assert row["m_stab"] == pytest.approx((0.4 - 0.2) + (0.3 - 0.2) + (0.2 - 0.2))
    assert row["stab_window"] == 3


def test_speed_is_ep_star_over_ep_times_total_seconds(metrics_of):
    row = metrics_of(TRAIN, CURVE, seconds=[2.0, 3.0, 5.0, 4.0, 6.0])
    assert row["t_m_er"] == pytest.approx(3 / 5 * (2 + 3 + 5 + 4 + 6))


def test_speed_is_nan_when_epoch_seconds_were_not_recorded(metrics_of):
    assert np.isnan(metrics_of(TRAIN, CURVE)["t_m_er"])


def test_representation_sums_train_plus_test(metrics_of):
    expected = (1.0 + 0.9) + (0.6 + 0.5) + (0.35 + 0.3) + (0.3 + 0.4) + (0.25 + 0.6)
    assert metrics_of(TRAIN, CURVE)["d_re"] == pytest.approx(expected)


def test_uniformity_equals_numpy_corrcoef(metrics_of):
    assert metrics_of(TRAIN, CURVE)["d_unif"] == pytest.approx(np.corrcoef(TRAIN, CURVE)[0, 1])
    rising = metrics_of([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    assert rising["d_unif"] == pytest.approx(1.0)
    opposite = metrics_of([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    assert opposite["d_unif"] == pytest.approx(-1.0)


@pytest.mark.parametrize("train, test", [
    ([0.4] * 5, CURVE), (TRAIN, [0.1] * 5), ([0.3], [0.2]),
    ([0.1] * 3, [0.9, 0.5, 0.3]),  # mean of 0.1, 0.1, 0.1 rounds: deviations ~1e-17, not 0
    ([1.0, 2.0, 4.0, 3.0, 5.0, 6.0, 7.0], [0.7] * 7),
])
def test_uniformity_is_nan_for_a_constant_or_single_point_curve(metrics_of, train, test):
    assert np.isnan(metrics_of(train, test)["d_unif"])


def test_gpu_max_memory_and_average_utilization(metrics_of):
    row = metrics_of([1.0, 0.5, 0.4], [0.9, 0.6, 0.5], gpu_mem=[100.0, 250.0, 200.0],
                     gpu_util=[50.0, 70.0, 90.0])
    assert row["gpu_max_mem_mb"] == 250.0  # max(100, 250, 200)
    assert row["gpu_avg_util_pct"] == pytest.approx((50 + 70 + 90) / 3)


def test_gpu_metrics_skip_unsampled_epochs(metrics_of):
    row = metrics_of([1.0, 0.5, 0.4], [0.9, 0.6, 0.5], gpu_mem=[np.nan, 300.0, 200.0],
                     gpu_util=[np.nan, 60.0, 80.0])
    assert row["gpu_max_mem_mb"] == 300.0
    assert row["gpu_avg_util_pct"] == pytest.approx((60 + 80) / 2)


def test_gpu_metrics_are_nan_when_not_measured(metrics_of):
    row = metrics_of(TRAIN, CURVE)
    assert np.isnan(row["gpu_max_mem_mb"]) and np.isnan(row["gpu_avg_util_pct"])


def test_fits_with_more_points_than_epochs_are_skipped_as_too_short(metrics_of):
    epochs = np.arange(1, 16)
    row = metrics_of(list(2.0 / epochs), list(2.0 * epochs**-0.5))  # EP = 15
    for model in ("pw", "exp"):
        assert row[f"fit_{model}_20_status"] == "too_short"
        assert np.isnan(row[f"delta_fit_{model}_20"]) and np.isnan(row[f"fit_{model}_20_a"])
        for n in (10, 15):
            assert row[f"fit_{model}_{n}_status"] == "ok"
            assert np.isfinite(row[f"delta_fit_{model}_{n}"])
    assert row["delta_fit_pw_10"] < 1e-9  # the curve is exactly 2 * ep**-0.5
    assert row["fit_pw_10_a"] == pytest.approx(2.0) and row["fit_pw_10_b"] == pytest.approx(-0.5)


def test_short_run_beside_a_long_one_skips_only_its_own_long_fits(make_run, make_curves):
    long_epochs, short_epochs = np.arange(1, 26), np.arange(1, 16)
    curves = validate_curves(make_curves(
        make_run(list(1.0 / long_epochs), list(2.0 * long_epochs**-0.5), arch="long"),
        make_run(list(1.0 / short_epochs), list(2.0 * short_epochs**-0.5), arch="short")),
        "memory")
    table = per_run_metrics(curves).set_index("arch")
    assert table.loc["long", "fit_pw_20_status"] == "ok"
    assert table.loc["short", "fit_pw_20_status"] == "too_short"
    assert np.isnan(table.loc["short", "delta_fit_exp_20"])
    assert table.loc["short", "fit_pw_15_status"] == "ok"


def test_delta_fit_sums_over_all_epochs_not_only_the_fitted_ones(metrics_of):
    epochs = np.arange(1, 26)
    test = 2.0 * epochs**-0.5 + 0.01 * np.sin(epochs)
    row = metrics_of(list(test), list(test))
    a, b = row["fit_exp_10_a"], row["fit_exp_10_b"]
    expected = np.abs(test - a * b**epochs).sum()  # ep = 1..25, EP = 25
    assert row["delta_fit_exp_10"] == pytest.approx(expected, rel=1e-12)


def test_delta_fit_min_and_best_pick_the_smallest_of_the_six(metrics_of):
    epochs = np.arange(1, 26)
    exponential = 3.0 * 0.85**epochs
    row = metrics_of(list(exponential), list(exponential))
    six = row[SIX].astype(float)
    assert row["delta_fit_min"] == six.min()
    assert row["delta_fit_best"] == six.idxmin().removeprefix("delta_fit_")
    assert row["delta_fit_best"].startswith("exp_")  # the exact model wins
    power = metrics_of(list(2.0 * epochs**-0.7), list(2.0 * epochs**-0.7))
    assert power["delta_fit_best"].startswith("pw_")


def test_delta_fit_min_ignores_skipped_fits(metrics_of):
    epochs = np.arange(1, 13)  # EP = 12: only N = 10 runs
    row = metrics_of(list(1.0 / epochs), list(1.5 * 0.8**epochs))
    assert row[SIX].isna().tolist() == [False, False, True, True, True, True]
    assert row["delta_fit_min"] == min(row["delta_fit_pw_10"], row["delta_fit_exp_10"])
    assert row["delta_fit_best"] == "exp_10"


def test_nonfinite_losses_flag_the_run_diverged_without_raising(metrics_of):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        row = metrics_of(TRAIN, [0.9, 0.5, np.inf, 0.3, np.nan])
    assert bool(row["diverged"])
    assert (row["m_er"], row["ep_star"]) == (0.3, 4)  # min over the finite epochs 1, 2, 4
    for summed in ("m_stab", "d_re", "d_unif", *SIX, "delta_fit_min"):
        assert np.isnan(row[summed]), summed
    assert row["delta_fit_best"] is None or pd.isna(row["delta_fit_best"])


def test_a_sum_whose_window_avoids_the_nonfinite_loss_stays_finite(metrics_of):
    row = metrics_of(TRAIN, [np.inf, 0.5, 0.3, 0.4, 0.6], delta=1)
    assert row["m_stab"] == pytest.approx((0.5 - 0.3) + 0.0 + (0.4 - 0.3))  # epochs 2..4
    assert np.isnan(metrics_of(TRAIN, [np.inf, 0.5, 0.3, 0.4, 0.6], delta=2)["m_stab"])


def test_nonfinite_train_loss_alone_marks_diverged_and_breaks_train_sums(metrics_of):
    row = metrics_of([1.0, np.nan, 0.35, 0.3, 0.25], CURVE)
    assert bool(row["diverged"])
    assert row["m_er"] == 0.3 and row["m_stab"] == pytest.approx(1.2)  # test curve is finite
    assert np.isnan(row["d_re"]) and np.isnan(row["d_unif"])


def test_finite_run_is_not_diverged(metrics_of):
    assert not bool(metrics_of(TRAIN, CURVE)["diverged"])


def test_run_without_any_finite_test_loss_gives_nan_metrics(metrics_of):
    row = metrics_of(TRAIN, [np.inf, np.nan, np.inf, np.nan, np.inf])
    assert np.isnan(row["m_er"]) and pd.isna(row["ep_star"]) and np.isnan(row["m_stab"])
    assert row["stab_window"] == 0


def test_runs_of_different_length_are_computed_independently(make_run, make_curves):
    curves = validate_curves(make_curves(
        make_run(TRAIN, CURVE, seconds=[1.0] * 5),
        make_run([1.0, 0.5], [0.4, 0.45], arch="fcn", seconds=[3.0, 3.0])), "memory")
    table = per_run_metrics(curves).set_index("arch")
    assert table.loc["fcn", "m_er"] == 0.4 and table.loc["unet", "m_er"] == 0.3
    assert table.loc["fcn", "t_m_er"] == pytest.approx(1 / 2 * (3 + 3))
    assert table.loc["unet", "t_m_er"] == pytest.approx(3 / 5 * 5)
    assert table.loc["fcn", "d_re"] == pytest.approx((1.0 + 0.4) + (0.5 + 0.45))


def test_coefficient_of_variation_averages_std_over_mean():
    first = np.array([1.0, 2.0, 3.0])  # mean 2, population std sqrt(2/3)
    second = np.array([[2.0, 2.0], [4.0, 4.0]])  # mean 3, std 1
    expected = (np.sqrt(2 / 3) / 2 + 1 / 3) / 2
    assert coefficient_of_variation([first, second]) == pytest.approx(expected)


def test_coefficient_of_variation_needs_an_image():
    with pytest.raises(ValueError):
        coefficient_of_variation([])


# --- flags: diverged beyond NaN, not learning -----------------------------------------------


def flags_of(make_run, train, test, **options):
    """The flag columns of one run; ``options`` split into run extras and flag settings."""
    settings = {key: options.pop(key) for key in ("diverge_factor", "learn_margin")
                if key in options}
    curves = validate_curves(make_run(train, test, **options), "memory")
    return per_run_metrics(curves, fit_points=(2,), **settings).iloc[0]


def test_a_blown_up_run_with_finite_losses_is_flagged_diverged_with_the_epoch(make_run):
    test = [0.71, 0.5, 2.2e7, 1e6]
    row = flags_of(make_run, test, test)
    assert bool(row["diverged"]) and np.isfinite(row["m_er"])
    assert row["flag_reason"] == "test loss 2.2e+07 at epoch 3 exceeds 10 × its epoch-1 value 0.71"


def test_diverge_factor_is_configurable(make_run):
    test = [0.7, 0.5, 4.0, 0.3]  # 4.0 is 5.7 × the first value
    assert not flags_of(make_run, test, test)["diverged"]
    row = flags_of(make_run, test, test, diverge_factor=5)
    assert row["flag_reason"] == "test loss 4 at epoch 3 exceeds 5 × its epoch-1 value 0.7"


def test_a_nonfinite_loss_is_named_with_its_epoch(make_run):
    row = flags_of(make_run, [1.0, 0.8, 0.7, np.nan], [0.9, 0.6, np.inf, np.inf])
    assert bool(row["diverged"])
    assert row["flag_reason"] == "non-finite test loss at epoch 3"
    row = flags_of(make_run, [1.0, np.nan, 0.7], [0.9, 0.6, 0.5])
    assert row["flag_reason"] == "non-finite train loss at epoch 2"


def test_a_run_at_the_constant_prediction_loss_is_flagged_not_learning(make_run):
    test = [0.6931, 0.6931, 0.6932, 0.6931]
    row = flags_of(make_run, test, test, reference_loss=0.6931)
    assert bool(row["not_learning"]) and not row["diverged"]
    assert (row["reference_kind"], row["reference_loss"]) == ("constant_prediction", 0.6931)
    assert row["flag_reason"] == ("best test loss 0.6931 not below 0.85 × constant-prediction "
                                  "loss 0.6931")


def test_a_loss_far_above_the_constant_prediction_loss_is_diverged_from_epoch_one(make_run):
    test = [2.2e7, 1e6, 3e6]  # blown up within the first epoch: no later epoch is 10× it
    row = flags_of(make_run, test, test, reference_loss=0.6931)
    assert bool(row["diverged"]) and bool(row["not_learning"])
    assert row["flag_reason"] == (
        "test loss 2.2e+07 at epoch 1 exceeds 10 × the constant-prediction loss 0.6931; "
        "best test loss 1e+06 not below 0.85 × constant-prediction loss 0.6931")


def test_the_first_epoch_is_the_reference_when_reference_loss_is_absent(make_run):
    stalled = flags_of(make_run, [1.0, 0.9, 0.9], [0.8, 0.75, 0.7])  # 0.7 > 0.85 × 0.8
    assert (stalled["reference_kind"], stalled["reference_loss"]) == ("first_epoch", 0.8)
    assert bool(stalled["not_learning"])
    assert stalled["flag_reason"] == ("best test loss 0.7 not below 0.85 × first-epoch test "
                                      "loss 0.8")
    learning = flags_of(make_run, [1.0, 0.9, 0.9], [0.8, 0.6, 0.67])  # 0.6 < 0.68
    assert not learning["not_learning"] and learning["flag_reason"] == ""


def test_a_nonfinite_reference_loss_falls_back_to_the_first_epoch(make_run):
    row = flags_of(make_run, [1.0, 0.9], [0.8, 0.5], reference_loss=np.nan)
    assert (row["reference_kind"], row["reference_loss"]) == ("first_epoch", 0.8)


def test_learn_margin_is_configurable(make_run):
    test = [0.8, 0.6]  # 25 % below the first epoch
    assert not flags_of(make_run, test, test)["not_learning"]
    assert bool(flags_of(make_run, test, test, learn_margin=0.3)["not_learning"])


def test_flags_are_computed_per_run_in_one_table(make_run, make_curves):
    raw = make_curves(make_run([1, 0.5], [0.9, 0.4], arch="a"),
                      make_run([1, 0.9], [0.9, 0.88], arch="b", reference_loss=0.9),
                      make_run([1, 50.0], [0.9, 50.0], arch="c"))
    table = per_run_metrics(validate_curves(raw, "memory"), fit_points=(2,))
    assert list(table["diverged"]) == [False, False, True]
    assert list(table["not_learning"]) == [False, True, True]
    assert list(table["reference_kind"]) == ["first_epoch", "constant_prediction",
                                             "first_epoch"]


def test_a_non_numeric_reference_loss_is_one_sentence_naming_the_column(make_run):
    from reusebench.core.errors import InputError

    with pytest.raises(InputError, match="non-numeric value 'ln2' in column 'reference_loss'"):
        validate_curves(make_run([1.0], [0.9], reference_loss="ln2"), "memory")


def test_metrics_cli_takes_the_flag_settings_and_rejects_bad_ones(make_run, write_csv, tmp_path,
                                                                  capsys):
    from reusebench.glue import cli

    path = write_csv(make_run([1.0, 0.9, 0.8], [0.9, 0.7, 4.0]))
    assert cli.main(["metrics", str(path), "-o", str(tmp_path / "default")]) == 0
    assert "flagged: 0 diverged, 0 not learning" in capsys.readouterr().out
    assert cli.main(["metrics", str(path), "-o", str(tmp_path / "strict"),
                     "--diverge-factor", "4", "--learn-margin", "0.5"]) == 0
    assert "flagged: 1 diverged, 1 not learning" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "strict" / "metrics.csv")
    assert table["flag_reason"].iloc[0] == (
        "test loss 4 at epoch 3 exceeds 4 × its epoch-1 value 0.9; best test loss 0.7 not "
        "below 0.5 × first-epoch test loss 0.9")
    for option, value in (("--diverge-factor", "1"), ("--learn-margin", "1.5")):
        assert cli.main(["metrics", str(path), "-o", str(tmp_path / "bad"), option, value]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and option[2:].replace("-", "_") in error
    assert not (tmp_path / "bad").exists()
