import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from reusebench.core import metric_tables as tables
from reusebench.glue import cli

OUTPUTS = sorted(f"{name}.{suffix}" for name in ("metrics", "pairs", "unpaired")
                 for suffix in ("csv", "parquet"))
METRIC_COLUMNS = [
    "run_id", "m_er", "ep_star", "m_stab", "stab_window", "t_m_er", "d_re", "d_unif",
    "gpu_max_mem_mb", "gpu_avg_util_pct",
    *(f"delta_fit_{m}_{n}" for m in ("pw", "exp") for n in (10, 15, 20)),
    "delta_fit_min", "delta_fit_best",
    *(f"fit_{m}_{n}_{p}" for m in ("pw", "exp") for n in (10, 15, 20) for p in ("a", "b")),
]
PAIR_COLUMNS = ["kind", "run_id_a", "run_id_b", "g_init", "d_init"]
UNPAIRED_COLUMNS = ["kind", "run_id", "reason"]


@pytest.fixture
def good_csv(make_run, make_curves, write_csv):
    """Four runs of 21 epochs: two archs × two inits, so every run has both partners."""
    epochs = np.arange(1, 22)
    runs = [make_run(list(scale * 1.1 * epochs**-0.5), list(scale * gain * epochs**-0.5),
                     arch=arch, init=init, seconds=[2.0] * 21)
            for arch, scale in (("unet", 1.0), ("fcn", 1.5))
            for init, gain in (("random", 1.0), ("coco", 0.8))]
    return write_csv(make_curves(*runs), name="good.csv")


def check_outputs(out):
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS  # and no temp files
    for name, columns, rows in [("metrics", METRIC_COLUMNS, 4), ("pairs", PAIR_COLUMNS, 4),
                                ("unpaired", UNPAIRED_COLUMNS, 0)]:
        from_csv = pd.read_csv(out / f"{name}.csv")
        from_parquet = pd.read_parquet(out / f"{name}.parquet")
        for table in (from_csv, from_parquet):
            assert set(columns) <= set(table.columns), name
            assert len(table) == rows, name
        assert from_csv.columns.tolist() == from_parquet.columns.tolist()
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert metrics["m_er"].notna().all() and (metrics["delta_fit_pw_20"] < 1e-6).all()
    assert (metrics["t_m_er"] == 21 / 21 * 2.0 * 21).all()  # ep* = EP = 21, ΣT = 2 × 21
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert sorted(pairs["kind"]) == ["data", "data", "graph", "graph"]


def test_metrics_command_writes_every_table_in_both_formats(good_csv, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["metrics", str(good_csv), "-o", str(out)]) == 0
    check_outputs(out)
    assert "4 runs, 4 pairs" in capsys.readouterr().out


def test_metrics_command_runs_as_a_module_in_a_subprocess(good_csv, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "reusebench", "metrics", str(good_csv),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    check_outputs(out)


def test_delta_option_reaches_the_stability_window(good_csv, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["metrics", str(good_csv), "-o", str(out), "--delta", "2"]) == 0
    # ep* = 21 = EP, so the window is epochs 19..21
    assert (pd.read_csv(out / "metrics.csv")["stab_window"] == 3).all()


def test_fit_points_option_chooses_the_fits(good_csv, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["metrics", str(good_csv), "-o", str(out), "--fit-points", "5", "8"]) == 0
    columns = pd.read_csv(out / "metrics.csv").columns
    assert {"delta_fit_pw_5", "delta_fit_exp_8"} <= set(columns)
    assert "delta_fit_pw_10" not in columns


def assert_one_sentence_naming(stderr, fragments):
    message = stderr.strip()
    assert "\n" not in message, message
    assert message.endswith("."), message
    assert re.search(r"[.!?]\s+\S", message) is None, message  # no second sentence
    for fragment in fragments:
        assert fragment in message, message


def test_bad_input_exits_2_with_one_sentence_and_writes_nothing(bad_csv, tmp_path, capsys):
    path, fragments = bad_csv
    out = tmp_path / "out"
    assert cli.main(["metrics", str(path), "-o", str(out)]) == cli.EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_sentence_naming(captured.err, [str(path), *fragments])
    assert not out.exists() or not any(out.iterdir())


def test_bad_file_after_a_good_one_still_writes_nothing(good_csv, bad_csv, tmp_path, capsys):
    path, _ = bad_csv
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["metrics", str(good_csv), str(path), "-o", str(out)]) == 2
    assert_one_sentence_naming(capsys.readouterr().err, [str(path)])
    assert list(out.iterdir()) == []


def test_bad_input_in_a_subprocess_exits_2(write_csv, tmp_path):
    path = write_csv("study,dataset\nA,a10\n", name="short.csv")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "reusebench", "metrics", str(path), "-o",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert_one_sentence_naming(done.stderr, [str(path), "missing required column"])
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("--delta", "-1"), ("--fit-points", "1")])
def test_bad_option_values_exit_2_with_one_sentence(good_csv, tmp_path, capsys, option, value):
    out = tmp_path / "out"
    assert cli.main(["metrics", str(good_csv), "-o", str(out), option, value]) == 2
    assert_one_sentence_naming(capsys.readouterr().err, [option])
    assert not out.exists()


def test_run_in_two_files_is_bad_input(good_csv, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["metrics", str(good_csv), str(good_csv), "-o", str(out)]) == 2
    assert_one_sentence_naming(capsys.readouterr().err, ["more than one"])
    assert not out.exists()


def test_failure_while_writing_leaves_no_partial_or_temp_files(good_csv, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = []

    def failing_to_parquet(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        path.write_bytes(b"partial")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing_to_parquet)
    with pytest.raises(OSError, match="disk full"):
        tables.compute_metric_files([good_csv], out)
    assert len(calls) == 2
    assert list(out.iterdir()) == []


def help_text(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 0
    return capsys.readouterr().out


def option_strings(parser):
    return {text for action in parser._actions for text in action.option_strings}


def test_top_level_help_exits_0_and_names_every_option_and_command(capsys):
    text = help_text(["--help"], capsys)
    assert {"-h", "--help"} == option_strings(cli.build_parser())
    for word in ("-h", "--help", "metrics", "usage: reusebench"):
        assert word in text


def test_metrics_help_exits_0_and_mentions_every_option(capsys):
    text = help_text(["metrics", "--help"], capsys)
    subparser = cli.build_parser()._subparsers._group_actions[0].choices["metrics"]
    options = option_strings(subparser)
    assert options == {"-h", "--help", "-o", "--out", "--delta", "--fit-points",
                       "--diverge-factor", "--learn-margin", "--list", "--definitions"}
    for word in (*options, "CURVES", "OUT", "default: 5", "10 15 20", "default: 10)",
                 "default: 0.15"):
        assert word in text
