import numpy as np
import pytest

from reusebench.core import pairs as pairs_module
from reusebench.core.curves import validate_curves
from reusebench.core.metrics import per_run_metrics
from reusebench.core.pairs import PAIR_COLUMNS, UNPAIRED_COLUMNS, pair_metrics

RANDOM_TEST = [0.9, 0.6, 0.4]  # M_er 0.4
COCO_TEST = [0.5, 0.3, 0.35]  # M_er 0.3


@pytest.fixture(params=["dense", "merge"])
def pairs_of(request, make_curves, monkeypatch):
    """Pairs and unpaired tables; D_init is summed both by the dense matrix and by a merge."""
    if request.param == "merge":
        monkeypatch.setattr(pairs_module, "_DENSE_CELLS", 0)

    def compute(*runs, validated=False):
        curves = runs[0] if validated else validate_curves(make_curves(*runs), "memory")
        pairs, unpaired = pair_metrics(curves, per_run_metrics(curves, fit_points=(2,)))
        assert tuple(pairs.columns) == PAIR_COLUMNS
        assert tuple(unpaired.columns) == UNPAIRED_COLUMNS
        return pairs, unpaired

    return compute


def test_data_pair_joins_runs_identical_except_init(make_run, pairs_of):
    pairs, unpaired = pairs_of(make_run([1.0] * 3, RANDOM_TEST, init="random"),
                               make_run([1.0] * 3, COCO_TEST, init="coco"))
    data = pairs[pairs["kind"] == "data"]
    assert len(data) == 1
    pair = data.iloc[0]
    assert pair["run_id_a"] == "A/a10/unet/random/lr0.001/s0/cpu"
    assert pair["run_id_b"] == "A/a10/unet/coco/lr0.001/s0/cpu"
    assert (pair["init_a"], pair["init_b"]) == ("random", "coco")
    assert pair["g_init"] == pytest.approx(0.4 - 0.3)  # M_er(random) - M_er(pretrained)
    assert pair["d_init"] == pytest.approx((0.9 - 0.5) + (0.6 - 0.3) + (0.4 - 0.35))
    assert pair["n_common_epochs"] == 3
    assert set(unpaired["kind"]) == {"graph"}  # both runs lack another arch, none lacks init


def test_runs_differing_in_more_than_init_do_not_pair(make_run, pairs_of):
    pairs, unpaired = pairs_of(make_run([1.0] * 3, RANDOM_TEST, init="random"),
                               make_run([1.0] * 3, COCO_TEST, init="coco", lr=0.01))
    assert pairs.empty
    assert len(unpaired[unpaired["kind"] == "data"]) == 2


def test_random_run_pairs_with_every_pretrained_init(make_run, pairs_of):
    pairs, _ = pairs_of(make_run([1.0] * 3, RANDOM_TEST, init="random"),
                        make_run([1.0] * 3, COCO_TEST, init="coco"),
                        make_run([1.0] * 3, [0.6, 0.2, 0.3], init="imagenet"))
    data = pairs[pairs["kind"] == "data"].set_index("init_b")
    assert sorted(data.index) == ["coco", "imagenet"]
    assert data.loc["imagenet", "g_init"] == pytest.approx(0.4 - 0.2)


def test_graph_pairs_cover_every_arch_combination_in_sorted_order(make_run, pairs_of):
    losses = {"unet": [0.5, 0.4], "fcn": [0.7, 0.6], "deeplab": [0.3, 0.35]}
    pairs, unpaired = pairs_of(*(make_run([1.0, 1.0], test, arch=arch)
                                 for arch, test in losses.items()))
    graph = pairs[pairs["kind"] == "graph"]
    assert list(zip(graph["arch_a"], graph["arch_b"], strict=True)) == [
        ("deeplab", "fcn"), ("deeplab", "unet"), ("fcn", "unet")]
    assert graph["g_init"].isna().all()  # G_init belongs to data pairs only
    fcn_unet = graph.iloc[2]
    assert fcn_unet["d_init"] == pytest.approx((0.7 - 0.5) + (0.6 - 0.4))
    assert graph.iloc[0]["d_init"] == pytest.approx((0.3 - 0.7) + (0.35 - 0.6))
    assert unpaired[unpaired["kind"] == "graph"].empty


def test_d_init_sums_over_common_epochs_only(make_run, pairs_of):
    pairs, _ = pairs_of(make_run([1.0] * 5, [0.9, 0.6, 0.4, 0.3, 0.2], init="random"),
                        make_run([1.0] * 3, COCO_TEST, init="coco"))
    pair = pairs.iloc[0]
    assert pair["n_common_epochs"] == 3
    assert pair["d_init"] == pytest.approx((0.9 - 0.5) + (0.6 - 0.3) + (0.4 - 0.35))
    assert pair["g_init"] == pytest.approx(0.2 - 0.3)  # M_er uses each run's full curve


def test_d_init_matches_epochs_by_number_not_by_position(make_run, make_curves, pairs_of):
    # validate_curves refuses epochs that do not start at 1, so shift them afterwards: the
    # pair sums themselves match epochs by number for any table handed to pair_metrics
    curves = validate_curves(make_curves(
        make_run([1.0] * 3, [0.9, 0.6, 0.4], init="random"),
        make_run([1.0] * 2, [0.5, 0.3], init="coco")), "memory")
    curves.loc[curves["init"] == "coco", "epoch"] += 1
    pairs, _ = pairs_of(curves, validated=True)
    pair = pairs.iloc[0]
    assert pair["n_common_epochs"] == 2
    assert pair["d_init"] == pytest.approx((0.6 - 0.5) + (0.4 - 0.3))


def test_d_init_is_nan_when_a_common_epoch_is_not_finite(make_run, pairs_of):
    pairs, _ = pairs_of(make_run([1.0] * 3, [0.9, np.inf, 0.4], init="random"),
                        make_run([1.0] * 3, COCO_TEST, init="coco"))
    assert np.isnan(pairs.iloc[0]["d_init"])
    assert pairs.iloc[0]["g_init"] == pytest.approx(0.4 - 0.3)


def test_unpaired_runs_are_listed_with_a_reason(make_run, pairs_of):
    pairs, unpaired = pairs_of(
        make_run([1.0] * 3, RANDOM_TEST, init="random", dataset="lonely_random"),
        make_run([1.0] * 3, COCO_TEST, init="coco", dataset="lonely_coco"))
    assert pairs.empty
    data = unpaired[unpaired["kind"] == "data"].set_index("run_id")["reason"]
    assert "pretrained" in data["A/lonely_random/unet/random/lr0.001/s0/cpu"]
    assert "init=random" in data["A/lonely_coco/unet/coco/lr0.001/s0/cpu"]
    graph = unpaired[unpaired["kind"] == "graph"]
    assert len(graph) == 2 and graph["reason"].str.contains("arch").all()


def test_every_run_is_either_paired_or_listed_for_each_kind(make_run, pairs_of):
    runs = [make_run([1.0] * 2, [0.5, 0.4], arch=arch, init=init, seed=seed)
            for arch, init, seed in [("unet", "random", 0), ("unet", "coco", 0),
                                     ("fcn", "random", 0), ("fcn", "coco", 1)]]
    pairs, unpaired = pairs_of(*runs)
    for kind in ("data", "graph"):
        chosen = pairs[pairs["kind"] == kind]
        seen = {*chosen["run_id_a"], *chosen["run_id_b"],
                *unpaired.loc[unpaired["kind"] == kind, "run_id"]}
        assert len(seen) == 4, kind
