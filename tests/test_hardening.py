"""Hardening: output-path problems, table formats by suffix, strict curve validation and a
status for every NaN metric — each bad case is one sentence and exit 2, never a traceback."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, copy_workflow, snakemake

from reusebench.core.curves import read_curves, validate_curves
from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write_all, output_problem
from reusebench.core.metrics import per_run_metrics
from reusebench.data.download import check_download, fetch
from reusebench.data.microscopy import unpack
from reusebench.data.nasbench.records import write_nasbench_table
from reusebench.glue import cli

RUN = "A/a10/unet/random/lr0.001/s0/cpu"
HEADER = "study,dataset,arch,init,lr,seed,device,epoch,train_loss,test_loss\n"
KEYS = "A,a10,unet,random,0.001,0,cpu"


def one_sentence(capsys, *fragments: str) -> str:
    """The CLI's stderr: one line, one sentence, holding every fragment."""
    message = capsys.readouterr().err.strip()
    assert message.startswith("reusebench: error: ") and "\n" not in message, message
    assert message.endswith(".") and "Traceback" not in message, message
    assert re.search(r"[.!?]\s+\S", message) is None, message  # no second sentence
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture
def curves_csv(make_run, make_curves, write_csv):
    """Two runs (random and coco init) of 12 epochs with epoch seconds."""
    epochs = np.arange(1, 13)
    runs = [make_run(list(1.1 * gain * epochs**-0.5), list(gain * epochs**-0.5), init=init,
                     seconds=[2.0] * 12)
            for init, gain in (("random", 1.0), ("coco", 0.8))]
    return write_csv(make_curves(*runs), name="curves.csv")


def keras_log(folder: Path, rows: str) -> Path:
    folder.mkdir(parents=True)
    path = folder / "unet_lr1e-3.csv"
    path.write_text("epoch,loss,val_loss\n" + rows)
    return path


# ---------------------------------------------------------------- 1. output paths


def test_metrics_output_folder_that_is_a_file_is_one_sentence_and_writes_nothing(
        curves_csv, tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("keep me")
    assert cli.main(["metrics", str(curves_csv), "-o", str(out)]) == 2
    one_sentence(capsys, str(out), "is an existing file, not a folder")
    assert out.read_text() == "keep me"


def test_metrics_output_below_a_file_cannot_be_created(curves_csv, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    out = blocker / "sub" / "out"
    assert cli.main(["metrics", str(curves_csv), "-o", str(out)]) == 2
    one_sentence(capsys, str(out), f"{blocker} is a file, not a folder")


def test_metrics_table_path_that_is_a_folder_leaves_no_partial_output(
        curves_csv, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "pairs.parquet").mkdir(parents=True)
    assert cli.main(["metrics", str(curves_csv), "-o", str(out)]) == 2
    one_sentence(capsys, str(out / "pairs.parquet"), "is an existing folder, not a file")
    assert [path.name for path in out.iterdir()] == ["pairs.parquet"]  # no other table


@pytest.mark.parametrize("command", ["ingest", "nasbench", "recommend"])
def test_table_output_that_is_a_folder_is_one_sentence_for_every_command(
        command, curves_csv, tmp_path, capsys):
    out = tmp_path / "table.csv"
    out.mkdir()
    argv = {"ingest": ["ingest", str(keras_log(tmp_path / "logs", "0,1.0,0.9\n"))],
            "nasbench": ["nasbench", str(tmp_path / "records.tfrecord")],
            "recommend": ["recommend", "--task", "robustness", "--metrics", str(curves_csv)]}
    assert cli.main([*argv[command], "-o", str(out)]) == 2
    one_sentence(capsys, str(out), "is an existing folder, not a file")
    assert list(out.iterdir()) == []


def test_card_output_folder_that_is_a_file_is_one_sentence(tmp_path, capsys):
    out = tmp_path / "card"
    out.write_text("")
    assert cli.main(["card", str(tmp_path / "run"), "-o", str(out)]) == 2
    one_sentence(capsys, str(out), "is an existing file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_output_folder_is_one_sentence(curves_csv, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["metrics", str(curves_csv), "-o", str(locked / "out")]) == 2
        one_sentence(capsys, str(locked / "out"), f"the folder {locked} is not writable")
    finally:
        locked.chmod(0o700)


def test_a_folder_the_process_may_not_write_is_named(tmp_path, monkeypatch):
    # the permission branch, also when the tests run as root
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert output_problem(tmp_path / "out.csv") == (
        f"Cannot write {tmp_path / 'out.csv'}: the folder {tmp_path} is not writable.")


def test_several_files_are_all_checked_before_any_is_written(tmp_path):
    (tmp_path / "b.csv").mkdir()
    writes = {tmp_path / "a.csv": lambda tmp: tmp.write_text("a"),
              tmp_path / "b.csv": lambda tmp: tmp.write_text("b")}
    with pytest.raises(InputError, match=r"b\.csv: it is an existing folder"):
        atomic_write_all(writes)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b.csv"]


def tar_with(member: str, tmp_path: Path) -> Path:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as bundle:
        info = tarfile.TarInfo(member)
        info.size = 1
        bundle.addfile(info, io.BytesIO(b"x"))
    return archive


def zip_with(member: str, tmp_path: Path) -> Path:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(member, "x")
    return archive


@pytest.mark.parametrize("make", [tar_with, zip_with])
@pytest.mark.parametrize("member", ["../escape.txt", "/abs/escape.txt"])
def test_archive_member_leaving_the_target_is_one_sentence(make, member, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    archive = make(member, tmp_path)
    with pytest.raises(InputError) as caught:
        unpack(archive, target)
    message = str(caught.value)
    assert str(archive) in message and repr(member) in message and "not unpacked" in message
    assert "\n" not in message and re.search(r"[.!?]\s+\S", message) is None, message
    assert not (tmp_path / "escape.txt").exists()


# ---------------------------------------------------------------- 2. format by suffix


def test_nasbench_table_format_follows_the_suffix(tmp_path):
    table = pd.DataFrame({"module_hash": ["abc"], "epochs": [4]})
    write_nasbench_table(table, tmp_path / "t.csv")
    write_nasbench_table(table, tmp_path / "t.parquet")
    assert (tmp_path / "t.csv").read_text() == "module_hash,epochs\nabc,4\n"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), table)


@pytest.mark.parametrize("suffix", [".txt", ".pq", ""])
def test_nasbench_refuses_a_suffix_that_is_no_table_format(suffix, tmp_path, capsys):
    out = tmp_path / f"table{suffix}"
    assert cli.main(["nasbench", str(tmp_path / "records.tfrecord"), "-o", str(out)]) == 2
    one_sentence(capsys, str(out), "must end in .csv or .parquet")
    assert not out.exists()


def test_recommend_writes_parquet_for_a_parquet_suffix(curves_csv, tmp_path, capsys):
    assert cli.main(["metrics", str(curves_csv), "-o", str(tmp_path / "m")]) == 0
    out = tmp_path / "ranking.parquet"
    assert cli.main(["recommend", "--task", "robustness", "--metrics",
                     str(tmp_path / "m" / "metrics.csv"), "-o", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 2


# ---------------------------------------------------------------- 3. curve validation


@pytest.mark.parametrize(("epochs", "problem"), [
    ([5, 6, 7], "epochs start at 5, not 1"),
    ([1, 2, 4, 5], "epoch 3 is missing"),
    ([1, 2, 2, 2, 3], "epoch 2 is a duplicate: it appears 3 times"),
])
def test_epochs_must_run_from_one_without_gaps_or_repeats(epochs, problem, write_csv):
    rows = "".join(f"{KEYS},{epoch},1.0,0.9\n" for epoch in epochs)
    path = write_csv(HEADER + rows)
    with pytest.raises(InputError) as caught:
        read_curves(path)
    message = str(caught.value)
    for fragment in (str(path), RUN, "column 'epoch'", problem):
        assert fragment in message, message


def test_a_huge_epoch_is_shown_as_given_not_overflowed(write_csv):
    path = write_csv(HEADER + f"{KEYS},1,1.0,0.9\n{KEYS},1e20,1.0,0.9\n")
    with pytest.raises(InputError) as caught:
        read_curves(path)
    message = str(caught.value)
    assert "1e+20" in message and "'epoch'" in message and "-922337" not in message, message


@pytest.mark.parametrize(("cell", "fragments"), [
    ("-0.5", ["negative loss -0.5", "epoch 2", "'test_loss'"]),
    ("abc", ["non-numeric value 'abc'", "'test_loss'"]),  # run named before lr is a number
])
def test_negative_or_text_losses_name_file_run_and_column(cell, fragments, write_csv):
    path = write_csv(HEADER + f"{KEYS},1,1.0,0.9\n{KEYS},2,1.0,{cell}\n")
    with pytest.raises(InputError) as caught:
        read_curves(path)
    for fragment in (str(path), "A/a10/unet/random/", *fragments):
        assert fragment in str(caught.value), caught.value


def test_a_boolean_loss_column_is_not_read_as_ones_and_zeros(make_run):
    raw = make_run([1.0, 0.8], [0.9, 0.7])
    raw["train_loss"] = [True, False]
    with pytest.raises(InputError, match=r"run A/a10/unet/random/0\.001/0/cpu has the "
                                         r"boolean True in column 'train_loss'"):
        validate_curves(raw, "memory")


def test_negative_infinity_still_marks_a_diverged_epoch(make_run):
    table = validate_curves(make_run([1.0, 0.8], [0.9, -np.inf]), "memory")
    assert table["test_loss"].iloc[1] == -np.inf


def test_keras_csv_with_a_repeated_epoch_is_refused_not_averaged(tmp_path, capsys):
    log = keras_log(tmp_path / "logs", "0,1.0,0.9\n1,0.8,0.7\n1,0.6,0.5\n2,0.5,0.4\n")
    out = tmp_path / "curves.csv"
    assert cli.main(["ingest", str(log), "-o", str(out)]) == 2
    one_sentence(capsys, str(log), "epoch 1 appears 2 times", "'val_loss'")
    assert not out.exists()


def test_authors_csv_with_a_repeated_epoch_is_refused(tmp_path, capsys):
    log = tmp_path / "authors.csv"
    header = "Model,Pretrained,LR,Batch_Size,epoch,Seconds,Train_loss,Test_loss\n"
    log.write_text(header + "".join(f"Deeplab50,True,0.001,2,{epoch},{10 * k},1.0,0.9\n"
                                    for k, epoch in enumerate([1, 2, 2, 3], start=1)))
    assert cli.main(["ingest", str(log), "-o", str(tmp_path / "curves.csv")]) == 2
    one_sentence(capsys, str(log), "epoch 2 appears 2 times")


def test_an_ingested_epoch_without_a_test_loss_in_the_middle_is_a_gap(tmp_path, capsys):
    log = keras_log(tmp_path / "logs", "0,1.0,0.9\n1,0.8,\n2,0.6,0.5\n")
    assert cli.main(["ingest", str(log), "-o", str(tmp_path / "curves.csv")]) == 2
    one_sentence(capsys, str(log), "column 'epoch': epoch 2 is missing")


# ---------------------------------------------------------------- 4. a status per NaN metric

STATUS = {"m_stab": "m_stab_status", "d_re": "d_re_status", "d_unif": "d_unif_status",
          **{f"delta_fit_{m}_10": f"fit_{m}_10_status" for m in ("pw", "exp")}}


def metrics_of(make_run, make_curves, *runs) -> pd.DataFrame:
    curves = validate_curves(make_curves(*[make_run(*run[:2], **run[2]) for run in runs]),
                             "memory")
    return per_run_metrics(curves, delta=5, fit_points=(10,)).set_index("arch")


def test_a_loss_turning_infinite_after_the_fit_window_gives_every_nan_its_reason(
        make_run, make_curves):
    test = list(np.arange(1, 13) ** -0.5)
    test[-1] = np.inf
    row = metrics_of(make_run, make_curves, ([1.0] * 12, test, {"arch": "unet"})).iloc[0]
    for metric, status in STATUS.items():
        assert np.isnan(row[metric]), metric
        assert row[status] == "non-finite test loss at epoch 12", (status, row[status])
    assert np.isfinite(row["fit_pw_10_a"])  # the fit itself succeeded


def test_finite_runs_read_ok_and_other_nan_causes_are_named(make_run, make_curves):
    curve = list(np.arange(1, 13) ** -0.5)
    table = metrics_of(make_run, make_curves,
                       (curve, curve, {"arch": "fine"}),
                       ([1.0] * 12, curve, {"arch": "flat"}),
                       ([1.0], [0.5], {"arch": "single"}),
                       ([1.0, np.nan, 0.8], [0.9, 0.8, 0.7], {"arch": "broken"}))
    assert (table.loc["fine", list(STATUS.values())] == "ok").all()
    assert table.loc["flat", "d_unif_status"] == "a loss curve is constant"
    assert table.loc["single", "d_unif_status"] == "fewer than two epochs"
    assert table.loc["broken", "d_re_status"] == "non-finite train loss at epoch 2"
    assert table.loc["broken", "m_stab_status"] == "ok"  # the test loss is finite


def test_every_nan_metric_has_a_status_other_than_ok(make_run, make_curves):
    curve = list(np.arange(1, 13) ** -0.5)
    spiky = [*curve[:6], np.nan, *curve[7:]]
    table = metrics_of(make_run, make_curves,
                       (curve, curve, {"arch": "fine"}), (curve, spiky, {"arch": "spiky"}),
                       ([1.0] * 3, [0.9, 0.8, 0.7], {"arch": "short"}))
    for metric, status in STATUS.items():
        nan = table[metric].isna()
        assert (table.loc[nan, status] != "ok").all(), (metric, table[[metric, status]])
        assert (table.loc[~nan, status].isin(["ok", "max_iter"])).all(), metric


def test_an_empty_tfrecord_is_one_sentence_and_exit_2(tmp_path):
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    out = tmp_path / "records.parquet"
    result = subprocess.run([sys.executable, "-m", "reusebench", "nasbench", str(empty), "-o",
                             str(out)], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{empty} holds no NAS-Bench-101 record" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.parametrize("url, sha256, verified, fragment", [
    ("file:///etc/passwd", "a" * 64, False, "only http and https downloads are allowed"),
    ("ftp://example.org/a.zip", "a" * 64, False, "only http and https downloads are allowed"),
    ("https://example.org/a.zip", None, False, "x.sha256 is not set for https://example.org"),
])
def test_a_download_needs_http_and_a_checksum(url, sha256, verified, fragment):
    with pytest.raises(InputError, match=fragment):
        check_download(url, sha256, "x", verified)


def test_a_download_with_a_checksum_skip_or_its_own_check_is_accepted():
    check_download("https://example.org/a.zip", "a" * 64, "x")
    check_download("https://example.org/a.zip", "skip", "x")
    check_download("https://example.org/a.tfrecord", None, "x", verified_otherwise=True)


def test_fetch_refuses_a_file_url_before_reading_it(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    with pytest.raises(InputError, match="only http and https"):
        fetch(source.as_uri(), tmp_path / "copy.bin", "a" * 64)
    assert not (tmp_path / "copy.bin").exists()


@pytest.mark.parametrize(("content", "sentence"), [
    (None, "Config file {path} does not exist."),
    ("a: [1,\n", "Config file {path}, line 2, column 1: expected the node content, but found "
                 "'<stream end>'."),
    ("metrics:\n\tdelta: 1\n", "Config file {path}, line 2, column 1: a tab where YAML wants "
                               "spaces (indent with spaces)."),
    ("", "Config file {path} is empty: it needs keys such as study_a or metrics at the top "
         "level."),
    ("metrics:\n  delta: x\n", "Config file {path}: invalid configuration key 'metrics.delta' "
                               "(see config/config.schema.yaml): 'x' is not of type "
                               "'integer'."),
])
def test_check_config_names_the_file_the_line_and_the_problem(content, sentence, tmp_path,
                                                             capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = tmp_path / "mine.yaml"
    if content is not None:
        path.write_text(content)
    assert cli.main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == f"reusebench: error: {sentence.format(path=path)}\n"


def test_check_config_accepts_the_shipped_configs(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    files = ["config/config.yaml", "config/real.yaml", "config/paper.yaml"]
    assert cli.main(["check-config", *files]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: ok" for path in files]


def test_a_broken_default_config_stops_the_workflow_naming_file_and_line(tmp_path):
    workdir = copy_workflow(tmp_path)
    default = workdir / "config" / "config.yaml"
    default.write_text(default.read_text() + "study_a:\n\tepochs: 3\n")
    result = snakemake(workdir, "--dry-run")
    assert result.returncode == 2
    assert "Error: Config file config/config.yaml, line " in result.stderr
    assert "a tab where YAML wants spaces" in result.stderr
    assert "Traceback" not in result.stderr and not (workdir / "results").exists()
