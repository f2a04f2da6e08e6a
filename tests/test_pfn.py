"""The LC-PFN predictor: the loss mapping, the prior, a tiny trained PFN, its draws, its
weights on disk and the training command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reusebench.core.forecast.pfn_mapping import (
    epochs_to_x,
    first_loss,
    loss_to_pfn,
    pfn_to_loss,
    x_to_epochs,
)
from reusebench.glue.cli import main

# ---- the mapping (numpy only) ---------------------------------------------------------------


def test_mapping_round_trips_exactly_where_nothing_is_clipped():
    rng = np.random.default_rng(0)
    loss = 0.2 + 2.0 * np.arange(1, 31)[None, :] ** -rng.uniform(0.2, 1.5, (50, 1))
    loss += 0.01 * rng.standard_normal(loss.shape)
    mapped = loss_to_pfn(loss, 30, margin=1.5)
    assert (mapped.status == "ok").all()
    assert ((mapped.y >= 0) & (mapped.y <= 1)).all()
    np.testing.assert_allclose(mapped.y[:, 0], 1 - 1 / 1.5)  # epoch 1 at 1 − 1/m
    np.testing.assert_allclose(mapped.scale, 1.5 * loss[:, 0])
    np.testing.assert_allclose(pfn_to_loss(mapped.y, mapped.scale), loss, rtol=1e-12)
    # y -> loss -> y
    y = rng.uniform(0, 1, (50, 30))
    again = loss_to_pfn(pfn_to_loss(y, mapped.scale), 30, scale=mapped.scale)
    np.testing.assert_allclose(again.y, y, atol=1e-12)
    # x: epoch / horizon and back, per-run horizons
    horizon = np.array([10.0, 40.0])
    x = epochs_to_x(np.arange(1, 11), horizon)
    assert x.shape == (2, 10) and x[0, -1] == 1.0 and x[1, -1] == 0.25
    np.testing.assert_allclose(x_to_epochs(x, horizon), np.broadcast_to(np.arange(1, 11),
                                                                        (2, 10)))
    np.testing.assert_allclose(loss_to_pfn(loss[:2, :10], horizon).x, x)


def test_mapping_flags_clipped_negative_and_unscaled_runs():
    loss = np.array([[1.0, 0.8, 1.7, 0.5],     # 1.7 > m·L1 = 1.5
                     [1.0, 0.5, -0.1, 0.2],    # a negative loss
                     [0.0, 0.5, 0.4, 0.3],     # L1 = 0: no scale
                     [np.nan, 2.0, 1.0, 0.5],  # L1 = first finite loss
                     [1.0, 0.9, np.nan, 0.7]])
    mapped = loss_to_pfn(loss, 4, margin=1.5)
    assert list(mapped.status) == ["clipped", "negative", "no_scale", "ok", "ok"]
    assert mapped.y[0, 2] == 0.0 and mapped.y[1, 2] == 1.0
    assert np.isnan(mapped.y[2]).all() and np.isnan(mapped.y[3, 0]) and np.isnan(mapped.y[4, 2])
    np.testing.assert_allclose(first_loss(loss)[3], 2.0)
    back = pfn_to_loss(mapped.y, mapped.scale)
    assert back[0, 2] == pytest.approx(1.5) and back[1, 2] == 0.0  # clipped: not the loss
    np.testing.assert_allclose(back[[0, 1, 3, 4]][:, [0, 1, 3]],
                               loss[[0, 1, 3, 4]][:, [0, 1, 3]], rtol=1e-12)
    with pytest.raises(ValueError, match="margin"):
        loss_to_pfn(loss, 4, margin=1.0)


# ---- the prior, the network and its draws (torch) -------------------------------------------

torch = pytest.importorskip("torch")

from reusebench.training.pfn.model import (  # noqa: E402
    CurvePFN,
    PfnSettings,
    log_density,
    quantiles,
)
from reusebench.training.pfn.predict import (  # noqa: E402
    REFUSAL,
    load_weights,
    pfn_draws,
    save_weights,
)
from reusebench.training.pfn.prior import PriorSettings, sample_batch  # noqa: E402
from reusebench.training.pfn.train import train_pfn  # noqa: E402

TINY = PfnSettings(d_model=32, n_layers=2, n_heads=2, d_ff=64, buckets=50)
TINY_PRIOR = PriorSettings(min_horizon=10, max_horizon=40)


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(one_thread):
    """A tiny PFN trained for 2000 steps (about 20 s on one core)."""
    return train_pfn(2000, seed=0, settings=TINY, prior=TINY_PRIOR, batch_size=32, lr=2e-3)


@pytest.fixture(scope="module")
def weights(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("pfn") / "tiny.pt"
    save_weights(path, *tiny)
    return load_weights(path)


def test_the_priors_curves_lie_in_the_unit_interval_and_mostly_rise():
    batch = sample_batch(np.random.default_rng(0), 2000, 40)
    assert batch.x.shape == batch.y.shape == (2000, 40)
    assert np.isfinite(batch.y).all() and batch.y.min() >= 0 and batch.y.max() <= 1
    np.testing.assert_allclose(batch.x[:, -1], 1.0)
    rising = batch.y[:, -5:].mean(axis=1) > batch.y[:, :5].mean(axis=1)
    assert rising.mean() > 0.9  # some overfit or are flat and noisy
    assert set(np.unique(batch.family)) == set(range(7))  # all seven families


def test_a_tiny_pfn_beats_a_constant_forecast_of_held_out_prior_curves(tiny):
    state, provenance = tiny
    model = CurvePFN(TINY)
    model.load_state_dict(state)
    model.eval()
    rng = np.random.default_rng(123)  # curves the training never saw
    reference = sample_batch(rng, 2000, 30, TINY_PRIOR, TINY.margin).y[:, 10:]
    batch = sample_batch(rng, 500, 30, TINY_PRIOR, TINY.margin)
    x, y = torch.from_numpy(batch.x), torch.from_numpy(batch.y)
    with torch.no_grad():
        logits = model(x[:, :10], y[:, :10], x[:, 10:])
        score = float(log_density(logits, y[:, 10:]).mean())
        median = quantiles(logits, torch.full((*logits.shape[:2], 1), 0.5))[..., 0]
    # the best constant forecast: the prior's marginal histogram of y and its median
    counts = np.bincount(np.minimum((reference * TINY.buckets).astype(int), TINY.buckets - 1)
                         .ravel(), minlength=TINY.buckets) + 0.5
    constant_density = counts / counts.sum() * TINY.buckets
    target = batch.y[:, 10:]
    constant_score = np.log(constant_density[np.minimum((target * TINY.buckets).astype(int),
                                                        TINY.buckets - 1)]).mean()
    constant_mae = np.abs(target - np.median(reference)).mean()
    assert score > constant_score + 1.0
    assert float((median - y[:, 10:]).abs().mean()) < 0.5 * constant_mae
    assert provenance["steps"] == 2000 and provenance["model"] == TINY.to_dict()
    assert provenance["prior"]["max_horizon"] == 40 and len(provenance["sha256"]) == 64
    assert np.isfinite(provenance["final_loss"]) and provenance["torch"] == torch.__version__


def _prior_losses(n_runs: int, horizon: int, seed: int) -> np.ndarray:
    return sample_batch(np.random.default_rng(seed), n_runs, horizon, TINY_PRIOR).loss * 0.7


def test_pfn_draws_have_the_core_structure_and_wider_intervals_with_fewer_epochs(weights):
    loss = _prior_losses(60, 30, 7)
    horizon = np.full(60, 30)
    horizon[:5] = 25  # runs of different lengths in one batch
    horizon[5] = 8  # ends before N = 10
    prefix = loss[:, :10].copy()
    prefix[6, -1] = np.nan  # diverged in the prefix
    prefix[7, 3] = np.nan  # a missing epoch inside the prefix is masked
    prefix[8, :3] = [1.0, 0.9, 2.0]  # 2.0 > m·L1 = 1.5: clipped
    draws = pfn_draws(prefix, horizon, 40, weights, seed=1)
    assert draws.final.shape == draws.best.shape == draws.best_epoch.shape == (60, 40)
    assert draws.status[5] == "no_epochs_after_n" and draws.status[6] == "diverged_in_prefix"
    ok = draws.status == "ok"
    assert ok.sum() == 58
    for name in ("final", "best", "best_epoch"):
        assert np.isfinite(getattr(draws, name)[ok]).all()
        assert np.isnan(getattr(draws, name)[~ok]).all()
    assert (draws.best[ok] <= draws.final[ok] + 1e-12).all()
    assert (draws.best_epoch[ok] >= 1).all() and (draws.best_epoch[ok] <= horizon[ok, None]).all()
    assert (draws.best_epoch[:5][ok[:5]] <= 25).all()
    assert (draws.final[ok] <= 1.5 * first_loss(prefix[ok])[:, None] + 1e-9).all()
    assert "above m·L1 clipped" in draws.detail[8] and weights.sha256[:12] in draws.detail[0]
    # same seed, same draws
    np.testing.assert_array_equal(pfn_draws(prefix, horizon, 40, weights, seed=1).final,
                                  draws.final)

    def width(n_obs: int) -> float:
        many = _prior_losses(200, 30, 8)
        part = pfn_draws(many[:, :n_obs], np.full(200, 30), 100, weights, seed=2)
        low, high = np.quantile(part.final, [0.025, 0.975], axis=1)
        return float(np.mean((high - low) / many[:, 0]))

    assert width(3) > width(10) > width(24)


def test_weights_round_trip_and_foreign_files_are_refused(tiny, weights, tmp_path):
    state, provenance = tiny
    assert weights.provenance == provenance and weights.settings == TINY
    for name, tensor in weights.model.state_dict().items():
        assert torch.equal(tensor, state[name])
    # a pickled model (as the published LC-PFN weights are) and other files
    pickled = tmp_path / "lcpfn_like.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(1, 2)), pickled)
    plain = tmp_path / "state_dict.pt"
    torch.save(state, plain)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    for path in (pickled, plain, text):
        with pytest.raises(Exception, match="not a reusebench PFN checkpoint") as caught:
            load_weights(path)
        assert str(caught.value) == REFUSAL.format(path=path)
        assert str(caught.value).count(". ") == 0  # one sentence
    tampered = tmp_path / "tampered.pt"
    bad_state = {name: tensor.clone() for name, tensor in state.items()}
    next(iter(bad_state.values())).add_(1.0)
    save_weights(tampered, bad_state, provenance)
    with pytest.raises(Exception, match="do not match the SHA-256"):
        load_weights(tampered)
    with pytest.raises(Exception, match="no such weights file"):
        load_weights(tmp_path / "absent.pt")


# ---- the command --------------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "message"), [
    (["--steps", "0"], "--steps must be at least 1, not 0."),
    (["--device", "tpu"], "--device must be cpu or cuda, not 'tpu'."),
    (["--size", "huge"], "--size must be small or large, not 'huge'."),
])
def test_the_training_command_rejects_bad_input_in_one_sentence(tmp_path, capsys, extra,
                                                                  message):
    out = tmp_path / "weights.pt"
    assert main(["forecast-pfn-train", "-o", str(out), *extra]) == 2
    assert capsys.readouterr().err.strip() == f"reusebench: error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_the_training_command_checks_the_output_path_first(tmp_path, capsys):
    folder = tmp_path / "taken.pt"
    folder.mkdir()
    assert main(["forecast-pfn-train", "-o", str(folder), "--steps", "5"]) == 2
    assert "it is an existing folder" in capsys.readouterr().err
    assert main(["forecast-pfn-train", "-o", str(tmp_path / "weights.txt")]) == 2
    assert "must end in .pt" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["taken.pt"]


def test_the_training_command_writes_loadable_weights(tmp_path, capsys, one_thread):
    out = tmp_path / "weights.pt"
    assert main(["forecast-pfn-train", "-o", str(out), "--steps", "3"]) == 0
    assert "sha256" in capsys.readouterr().out
    loaded = load_weights(out)
    assert loaded.provenance["steps"] == 3 and loaded.settings.d_model == 64


def test_forecast_uses_pfn_weights_given_on_the_command_line(tmp_path, capsys):
    from reusebench.glue import cli

    weights = tmp_path / "w.pt"
    assert cli.main(["forecast-pfn-train", "-o", str(weights), "--steps", "5"]) == 0
    epochs = np.arange(1, 21)
    curves = pd.DataFrame({"study": "A", "dataset": "d", "arch": "unet", "init": "random",
                           "lr": 0.001, "seed": 0, "device": "cpu", "epoch": epochs,
                           "train_loss": 1.0 / epochs, "test_loss": 1.2 / epochs ** 0.5})
    curves_path = tmp_path / "curves.csv"
    curves.to_csv(curves_path, index=False)
    out = tmp_path / "forecast.csv"
    assert cli.main(["forecast", str(curves_path), "-o", str(out), "--observed", "10",
                     "--predictors", "pw", "pfn", "--pfn-weights", str(weights)]) == 0
    table = pd.read_csv(out)
    assert table["predictor"].tolist() == ["pw", "pfn"]
    assert table["status"].tolist() == ["ok", "ok"]
    capsys.readouterr()
    assert cli.main(["forecast", str(curves_path), "-o", str(tmp_path / "x.csv"),
                     "--observed", "10", "--predictors", "pfn"]) == 2
    assert "--predictors pfn and --pfn-weights go together" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
