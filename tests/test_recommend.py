"""The recommender: Study A Table 1 tasks ranked by their metrics, ties, missing metrics, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reusebench.core.errors import InputError
from reusebench.glue import cli
from reusebench.reporting.recommend import (
    TASKS,
    Constraints,
    candidate_table,
    recommend,
    recommendation_markdown,
    task_of,
    top_rows,
)

NAN = np.nan


def metrics_table(**columns) -> pd.DataFrame:
    """Runs r0, r1, ... with every metric column of the tasks; ``columns`` override them."""
    n = len(next(iter(columns.values())))
    table = pd.DataFrame({
        "run_id": [f"r{i}" for i in range(n)], "study": "A", "dataset": "easy",
        "arch": "unet", "init": "random", "lr": 0.001, "seed": 0, "device": "cpu",
        "m_er": 0.5, "t_m_er": 10.0, "gpu_max_mem_mb": NAN, "gpu_avg_util_pct": NAN,
        "delta_fit_min": 1.0, "d_unif": 0.9, "m_stab": 0.1,
    }, index=range(n))
    for column, values in columns.items():
        table[column] = values
    return table


def ranked_ids(result) -> list[str]:
    table = result.table
    return list(table.loc[table["rank"].notna(), "run_id"])


def test_robustness_orders_by_mean_rank_with_each_metrics_direction():
    # r0 best on D_unif (higher), r1 best on M_er and M_stab (lower): r1 wins 2 of 3
    table = metrics_table(d_unif=[0.99, 0.5, 0.1], m_er=[0.3, 0.1, 0.9], m_stab=[0.2, 0.1, 0.3])
    result = recommend(TASKS["robustness"], candidate_table(TASKS["robustness"], table))
    assert ranked_ids(result) == ["r1", "r0", "r2"]
    assert list(result.table["mean_rank"]) == pytest.approx([4 / 3, 5 / 3, 3.0])
    assert result.table["reason"].iloc[0].startswith("mean rank 1.33: D_unif 0.5 (#2/3, higher")


def test_tie_on_mean_rank_is_broken_by_the_first_metric_then_run_id():
    # mean ranks (M_er, T(M_er); GPU metrics unmeasured): r0 2.5, r1 2.5, r2 2, r3 2
    table = metrics_table(m_er=[0.3, 0.1, 0.2, 0.2], t_m_er=[1.0, 3.0, 2.0, 2.0])
    result = recommend(TASKS["reproduce"], candidate_table(TASKS["reproduce"], table))
    assert ranked_ids(result) == ["r2", "r3", "r1", "r0"]
    assert all(reason.endswith("tied on mean rank with 1 other run(s), ordered by M_er then "
                               "run_id") for reason in result.table["reason"])


def test_metric_no_run_has_is_left_out_and_named_in_the_notes():
    table = metrics_table(t_m_er=[3.0, 1.0, 2.0])
    result = recommend(TASKS["inference"], candidate_table(TASKS["inference"], table))
    assert ranked_ids(result) == ["r1", "r2", "r0"]
    assert any(note.startswith("GPU^MaxM is not measured") for note in result.notes)
    assert "GPU^AvgU" not in result.table["reason"].iloc[0]


def test_runs_are_listed_as_not_ranked_when_no_metric_of_the_task_is_measured():
    table = metrics_table(t_m_er=[NAN, NAN])
    result = recommend(TASKS["inference"], candidate_table(TASKS["inference"], table))
    assert list(result.table["run_id"]) == ["r0", "r1"] and result.n_ranked == 0
    assert set(result.table["reason"]) == {"not ranked: gpu_max_mem_mb missing"}


def test_run_missing_a_metric_others_have_is_listed_last_as_not_ranked():
    table = metrics_table(gpu_max_mem_mb=[100.0, NAN, 50.0], gpu_avg_util_pct=[10.0, 20.0, 30.0])
    result = recommend(TASKS["inference"], candidate_table(TASKS["inference"], table))
    assert ranked_ids(result) == ["r2", "r0"]
    last = result.table.iloc[-1]
    assert last["run_id"] == "r1" and pd.isna(last["rank"])
    assert last["reason"] == "not ranked: gpu_max_mem_mb missing"
    assert result.notes[0] == "2 runs ranked, 1 not ranked."


def test_constraints_drop_runs_above_the_limit_and_list_runs_they_cannot_check():
    table = metrics_table(gpu_max_mem_mb=[100.0, NAN, 500.0], t_m_er=[1.0, 2.0, 3.0],
                          dataset=["easy", "easy", "easy"])
    constraints = Constraints(max_gpu_mem_mb=200.0)
    result = recommend(TASKS["inference"], candidate_table(TASKS["inference"], table),
                       constraints)
    assert list(result.table["run_id"]) == ["r0", "r1"]
    assert result.table["reason"].iloc[1] == \
        "not ranked: gpu_max_mem_mb missing (needed by --max-gpu-mem)"
    assert "1 runs excluded by --max-gpu-mem 200 (GPU^MaxM above it)." in result.notes


def test_dataset_filter_keeps_its_runs_and_an_unknown_dataset_is_one_sentence():
    table = metrics_table(dataset=["easy", "hard", "easy"], m_er=[0.3, 0.1, 0.2])
    task = TASKS["robustness"]
    result = recommend(task, candidate_table(task, table), Constraints(dataset="easy"))
    assert ranked_ids(result) == ["r2", "r0"]
    with pytest.raises(InputError, match=r"Data set 'cryo' has no runs .*easy, hard"):
        recommend(task, candidate_table(task, table), Constraints(dataset="cryo"))


def test_transfer_ranks_pretrained_runs_by_g_init_and_d_init_of_their_data_pair():
    table = metrics_table(init=["random", "pretrained", "random", "pretrained"],
                          arch=["unet", "unet", "fcn", "fcn"])
    pairs = pd.DataFrame({"kind": ["data", "data", "graph"], "run_id_a": ["r0", "r2", "r1"],
                          "run_id_b": ["r1", "r3", "r3"], "g_init": [0.1, 0.3, NAN],
                          "d_init": [1.0, 2.0, 5.0]})
    result = recommend(TASKS["transfer"], candidate_table(TASKS["transfer"], table, pairs))
    assert ranked_ids(result) == ["r3", "r1"]
    assert list(result.table["d_init_data"].iloc[:2]) == [2.0, 1.0]  # graph pair not used
    assert set(result.table["reason"].iloc[2:]) == {"not ranked: g_init missing"}


def test_transfer_without_pairs_and_a_table_missing_a_needed_column_are_one_sentence():
    with pytest.raises(InputError, match="needs the pairs table"):
        candidate_table(TASKS["transfer"], metrics_table(m_er=[0.1]))
    with pytest.raises(InputError, match=r"lacks the column 'm_stab' that task 'robustness'"):
        candidate_table(TASKS["robustness"], metrics_table(m_er=[0.1]).drop(columns="m_stab"))
    with pytest.raises(InputError, match="Unknown task 'nas'"):
        task_of("nas")


def test_top_keeps_the_first_ranked_runs_and_every_unranked_one():
    table = metrics_table(d_unif=[0.9, 0.8, 0.7, NAN])
    result = top_rows(recommend(TASKS["robustness"],
                                candidate_table(TASKS["robustness"], table)), 2)
    assert list(result.table["run_id"]) == ["r0", "r1", "r3"]
    markdown = recommendation_markdown(result)
    assert "Showing the top 2 ranked runs of each data set." in markdown
    assert "| r3 |" in markdown


def test_runs_are_ranked_within_their_data_set():
    table = metrics_table(dataset=["hard", "easy", "hard", "easy"], m_er=[0.5, 0.9, 0.4, 0.8])
    result = recommend(TASKS["robustness"], candidate_table(TASKS["robustness"], table))
    assert list(result.table["run_id"]) == ["r3", "r1", "r2", "r0"]
    assert list(result.table["rank"]) == [1, 2, 1, 2]
    assert "(#1/2, lower is better)" in result.table["reason"].iloc[2]


def test_cli_writes_the_ranking_as_csv_and_markdown(tmp_path, capsys):
    metrics = tmp_path / "metrics.csv"
    metrics_table(m_er=[0.3, 0.1]).to_csv(metrics, index=False)
    assert cli.main(["recommend", "--task", "robustness", "--metrics", str(metrics),
                     "-o", str(tmp_path / "out.csv")]) == 0
    assert list(pd.read_csv(tmp_path / "out.csv")["run_id"]) == ["r1", "r0"]
    assert cli.main(["recommend", "--task", "robustness", "--metrics", str(metrics),
                     "-o", str(tmp_path / "out.md")]) == 0
    assert "# Recommendation for task 'robustness'" in (tmp_path / "out.md").read_text()
    assert cli.main(["recommend", "--task", "robustness", "--metrics", str(metrics)]) == 0
    assert "| 1 | r1 |" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "refine"], "lacks the column 'delta_fit_min' that task 'refine' needs"),
    (["--task", "transfer"], "needs the pairs table (--pairs)"),
    (["--task", "robustness", "--dataset", "cryo"], "Data set 'cryo' has no runs"),
    (["--task", "robustness", "--top", "0"], "--top must be at least 1"),
    (["--task", "robustness", "-o", "OUT.json"], "written as .csv, .parquet or .md"),
])
def test_cli_bad_input_is_one_sentence_exit_2_and_writes_nothing(tmp_path, capsys, args,
                                                                  message):
    metrics = tmp_path / "metrics.parquet"
    metrics_table(m_er=[0.3, 0.1]).drop(columns="delta_fit_min").to_parquet(metrics)
    args = [arg.replace("OUT", str(tmp_path / "out")) for arg in args]
    code = cli.main(["recommend", "--metrics", str(metrics), "-o", str(tmp_path / "out.csv"),
                     *args])
    error = capsys.readouterr().err.strip()
    assert code == 2 and message in error and len(error.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.parquet"]


def blown_up_grid() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and pairs of a grid with lr = 1000: its runs blow up to 1e6-1e7 (finite).

    The blown-up runs train faster (lower T(M_er)) and the random one's M_er is huge, so
    without flags inference ranks them first and transfer credits its pretrained twin.
    """
    from reusebench.core.curves import validate_curves
    from reusebench.core.metric_tables import metric_tables

    rows = []
    for init, lr, losses, seconds in [
            ("random", 0.001, [0.9, 0.6, 0.4, 0.35], 2.0),
            ("pretrained", 0.001, [0.5, 0.4, 0.3, 0.3], 2.0),
            ("random", 1000.0, [3e6, 1e7, 2.2e7, 5e6], 0.5),
            ("pretrained", 1000.0, [0.69, 0.69, 0.69, 0.69], 0.5)]:
        for epoch, loss in enumerate(losses, 1):
            rows.append({"study": "A", "dataset": "easy", "arch": "unet", "init": init,
                         "lr": lr, "seed": 0, "device": "cpu", "epoch": epoch,
                         "train_loss": loss, "test_loss": loss, "epoch_seconds": seconds,
                         "reference_loss": 0.6931})
    tables = metric_tables(validate_curves(pd.DataFrame(rows), "grid"), fit_points=[2])
    return tables["metrics"], tables["pairs"]


@pytest.mark.parametrize("task", ["inference", "reproduce", "transfer", "robustness"])
def test_flagged_runs_are_never_ranked_and_are_listed_last_with_their_reason(task):
    metrics, pairs = blown_up_grid()
    assert list(metrics["diverged"]) == [False, False, False, True]  # sorted by run_id
    assert list(metrics["not_learning"]) == [False, True, False, True]
    result = recommend(TASKS[task], candidate_table(TASKS[task], metrics, pairs))
    table = result.table
    assert not table.loc[table["rank"].notna(), "run_id"].str.contains("lr1000").any()
    flagged = table[table["flag"] != ""]
    assert flagged.index.min() > table.index[table["rank"].notna()].max()
    assert flagged["reason"].str.startswith("not ranked: flagged ").all()
    assert any("exceeds 10 × the constant-prediction loss 0.6931" in reason
               for reason in flagged["reason"])
    counted = [note for note in result.notes if "runs flagged" in note]
    assert counted and counted[0].startswith(f"{len(flagged)} runs flagged")


def test_transfer_does_not_rank_a_pretrained_run_whose_random_partner_is_flagged():
    metrics, pairs = blown_up_grid()
    result = recommend(TASKS["transfer"], candidate_table(TASKS["transfer"], metrics, pairs))
    table = result.table.set_index("run_id")
    assert ranked_ids(result) == ["A/easy/unet/pretrained/lr0.001/s0/cpu"]
    partner = table.loc["A/easy/unet/pretrained/lr1000/s0/cpu"]
    assert partner["flag"] == "not learning"  # its own flag comes before the partner's
    assert "best test loss 0.69 not below 0.85 × constant-prediction loss 0.6931" \
        in partner["reason"]


def test_transfer_lists_a_pretrained_run_with_a_flagged_partner_as_not_ranked():
    table = metrics_table(init=["random", "pretrained", "random", "pretrained"],
                          arch=["unet", "unet", "fcn", "fcn"],
                          diverged=[True, False, False, False],
                          not_learning=[False, False, False, False],
                          flag_reason=["non-finite test loss at epoch 3", "", "", ""])
    pairs = pd.DataFrame({"kind": ["data", "data"], "run_id_a": ["r0", "r2"],
                          "run_id_b": ["r1", "r3"], "g_init": [9e6, 0.3], "d_init": [5e7, 2.0]})
    result = recommend(TASKS["transfer"], candidate_table(TASKS["transfer"], table, pairs))
    assert ranked_ids(result) == ["r3"]
    row = result.table.set_index("run_id").loc["r1"]
    assert row["flag"] == "partner diverged"
    assert row["reason"] == ("not ranked: flagged partner diverged — data-pair partner r0 is "
                             "flagged: non-finite test loss at epoch 3")
