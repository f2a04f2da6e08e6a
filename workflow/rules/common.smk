"""Helpers of the workflow (config checks, input functions, target lists)."""

import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from reusebench.glue.workflow import (
    CIFAR as TRADEOFF_CIFAR,
    SYNTHETIC_CLASSES as TRADEOFF_SYNTHETIC,
    InputError,
    Run as TradeoffRun,
    check_devices_here,
    check_downloads,
    check_forecast,
    check_study_a,
    clear_killed_run_leftovers,
    donor_run as tradeoff_donor_run,
    expand_runs as tradeoff_expand_runs,
    load_config_file,
    parse_technique as tradeoff_parse_technique,
    resolve_data_root,
    run_epochs as tradeoff_run_epochs,
    typed_config,
)


def check_default_config(path):
    """The workflow's own config file must parse; else one sentence naming file and line."""
    try:
        load_config_file(path)
    except InputError as error:
        _config_error(str(error))


def prepare_config(workflow, config, schema):
    """Type, validate and fill the config, resolve data_root, check data set names,
    downloads and devices, and clear a killed run's leftovers; a problem stops with one
    sentence naming the key and exit 2."""
    try:
        config.update(typed_config(config, schema))
        validate(config, schema)
        config.update(resolve_data_root(config, workflow.configfiles))
        check_study_a(config)
        check_downloads(config)
        check_forecast(config)
        if workflow.is_main_process:
            check_devices_here(config, sys.argv)
            clear_killed_run_leftovers(config, sys.argv)
    except InputError as error:
        _config_error(str(error))


def _config_error(message):
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(2)


def res(path):
    """``path`` inside this config's results folder (key results_dir)."""
    return os.path.join(config["results_dir"], path)


# ---------------------------------------------------------------- Study A


def study_a_dataset_spec(wildcards):
    return config["study_a"]["datasets"][wildcards.dataset]


def study_a_dataset_folder(wildcards):
    """The a10 kind reads the folder its download rule fills; the other kinds need no input."""
    if study_a_dataset_spec(wildcards)["kind"] == "a10":
        return f"resources/data/{wildcards.dataset}"
    return []


def study_a_used_datasets():
    settings = config["study_a"]
    used = list(settings["targets"])
    if "pretrained" in settings["inits"]:
        used.append(settings["pretrain"]["source"])
    return list(dict.fromkeys(used))


def study_a_dataset_files():
    return expand(res("data/{dataset}.npz"), dataset=study_a_used_datasets())


def study_a_pretrained_checkpoint(wildcards):
    """The pretrain rule's checkpoint for init 'pretrained'; nothing for the other inits."""
    if wildcards.init != "pretrained":
        return []
    source = config["study_a"]["pretrain"]["source"]
    return res(f"pretrained/{source}/{wildcards.arch}.pt")


def study_a_training():
    keys = ("seeds", "epochs", "batch_size", "nvml_rate_hz", "torch_home", "precise_bn",
            "keep_optimizer_state", "checkpoint_dtype")
    return {key: config["study_a"][key] for key in keys}


def study_a_pretrain_training():
    """Only the settings the pretrain rule uses (so seeds or epochs do not rerun it)."""
    keys = ("batch_size", "nvml_rate_hz", "precise_bn")
    return {key: config["study_a"][key] for key in keys}


def study_a_seed_files(name):
    """One file per seed of study_a.seeds (rule train trains every seed in one job)."""
    return expand(res("runs/A/{{dataset}}/{{arch}}/{{init}}/lr{{lr}}/s{seed}/{{device}}/"
                      f"{name}"), seed=config["study_a"]["seeds"])


def study_a_run_dirs():
    settings = config["study_a"]
    return expand(res("runs/A/{dataset}/{arch}/{init}/lr{lr}/s{seed}/{device}"),
                  dataset=settings["targets"], arch=settings["archs"], init=settings["inits"],
                  lr=settings["lrs"], seed=settings["seeds"], device=settings["devices"])


def study_a_curve_files():
    return [f"{run_dir}/curves.csv" for run_dir in study_a_run_dirs()]


def gpu_count(wildcards):
    """Training resources: one GPU unless the device wildcard is cpu."""
    return 0 if wildcards.device == "cpu" else 1


def gpu_model(wildcards):
    """The GPU model asked of the scheduler: the device wildcard unless it is cpu or cuda."""
    return "" if wildcards.device in ("cpu", "cuda") else wildcards.device


def study_a_outputs():
    targets = config["study_a"]["targets"]
    tables = expand(res("tables/A/{table}.{ext}"), ext=["csv", "md"],
                    table=["table4_datasets", "table5_best_per_arch", "table5_over_seeds",
                           "eq11_check"])
    per_dataset = expand(res("tables/A/per_dataset/{dataset}_metrics.{ext}"), dataset=targets,
                         ext=["csv", "md"])
    figures = expand(res("figures/A/{figure}_{dataset}.{ext}"), dataset=targets,
                     figure=["fig4_convergence", "fig5_parallel_coordinates"],
                     ext=["png", "svg"])
    interactive = expand(res("figures/A/fig5_parallel_coordinates_{dataset}.html"),
                         dataset=targets)
    stability = expand(res("figures/A/fig6_stability.{ext}"), ext=["png", "svg"])
    return [*tables, *per_dataset, *figures, *interactive, *stability]


def synthetic_datasets():
    return config["synthetic_curves"]["datasets"]


def synthetic_curve_files():
    return expand(res("curves/synthetic/{dataset}.csv"), dataset=synthetic_datasets())


def curve_files(wildcards):
    """Curve tables the metric stage of a study reads."""
    if wildcards.study == "synthetic":
        return synthetic_curve_files()
    if wildcards.study == "A":
        return study_a_curve_files()
    if wildcards.study == "B":
        return tradeoff_curve_files()
    raise WorkflowError(f"Unknown study '{wildcards.study}' in a metrics target.")


def nasbench_sources():
    return config["nasbench"]["sources"]


def nasbench_source_file(wildcards):
    """The records file behind a NAS-Bench source name."""
    source = wildcards.source
    if source == "mini":
        return res("nasbench/mini/records.tfrecord")
    if source in config["nasbench"]["files"]:
        return config["nasbench"]["files"][source]
    if source in config["nasbench"]["downloads"]:
        return f"resources/nasbench/{source}.tfrecord"
    raise WorkflowError(f"NAS-Bench source '{source}' is neither 'mini' nor a key of "
                        "nasbench.files or nasbench.downloads in the config.")


def nasbench_download_source(wildcards):
    return config["nasbench"]["downloads"][wildcards.name]


def nasbench_outputs():
    return expand(res("tables/nasbench/{source}/claims.md"), source=nasbench_sources())


# ---------------------------------------------------------------- Study B

def tradeoff_runs():
    """Every Study B run (config grids plus m2m donors); a bad entry stops with one sentence."""
    try:
        return tradeoff_expand_runs(config["study_b"])
    except InputError as error:
        _config_error(f"invalid configuration: {error}")


def tradeoff_seeds():
    return config["study_b"]["seeds"]


def tradeoff_run_dir(run, seed):
    return res(f"runs/B/{run.dataset}/{run.split}/{run.arch}/{run.technique}/s{seed}/"
               f"{run.device}")


def tradeoff_run_dirs():
    """One folder per Study B run and seed."""
    return [tradeoff_run_dir(run, seed) for run in tradeoff_runs() for seed in tradeoff_seeds()]


def tradeoff_seed_outputs(name):
    """The train rule's file ``name`` for every seed (the other wildcards kept)."""
    return [res(f"runs/B/{{dataset}}/{{split}}/{{arch}}/{{technique}}/s{seed}/{{device}}/"
                f"{name}") for seed in tradeoff_seeds()]


def tradeoff_summary_files():
    return [f"{run_dir}/summary.json" for run_dir in tradeoff_run_dirs()]


def tradeoff_curve_files():
    """Study B curve tables (the curve-table contract, study B)."""
    return [f"{run_dir}/curves.csv" for run_dir in tradeoff_run_dirs()]


def tradeoff_datasets():
    """Data sets with runs on their own split: one ranking and bubble chart each."""
    return sorted({run.dataset for run in tradeoff_runs() if run.split == "own"})


def tradeoff_archs():
    return sorted({run.arch for run in tradeoff_runs()})


def tradeoff_baseline_files():
    return expand(res("tradeoff/baseline/{dataset}.json"), dataset=tradeoff_datasets())


def tradeoff_archive_name(wildcards):
    """The CIFAR data set whose official archive file is the wildcard."""
    for name, archive in TRADEOFF_CIFAR.items():
        if archive.file_name == wildcards.archive:
            return name
    raise WorkflowError(f"'{wildcards.archive}' is not an official CIFAR archive name.")


def tradeoff_dataset_source(wildcards):
    """The file a Study B data set is read from (nothing for the synthetic ones)."""
    settings, name = config["study_b"], wildcards.dataset
    if name in settings["files"]:
        return settings["files"][name]
    if name in TRADEOFF_CIFAR:
        return f"resources/cifar/{TRADEOFF_CIFAR[name].file_name}"
    return []


def tradeoff_dataset_settings(wildcards):
    """Only the settings that change this data set (so others do not rerun it)."""
    settings = config["study_b"]
    if wildcards.dataset in TRADEOFF_SYNTHETIC:
        return {"synthetic": settings["synthetic"]}
    return {"limits": settings["limits"], "seed": settings["seed"]}


def tradeoff_pretrain_inputs(wildcards):
    """The data set the backbones are pretrained on (nothing for the synthetic source)."""
    source = config["study_b"]["pretrain"]["source"]
    return {} if source == "synthetic" else {"dataset": res(f"tradeoff/data/{source}.npz")}


def tradeoff_train_inputs(wildcards):
    """Data set, pretrained backbone (weights: synthetic) and, for m2m, the donor model."""
    settings = config["study_b"]
    inputs = {"data": res(f"tradeoff/data/{wildcards.dataset}.npz")}
    if settings["weights"] == "synthetic":
        inputs["pretrained"] = res(f"tradeoff/pretrained/{wildcards.arch}.h5")
    if tradeoff_parse_technique(wildcards.technique).method == "m2m":
        run = TradeoffRun(wildcards.dataset, wildcards.split, wildcards.arch, wildcards.technique,
                  wildcards.device)
        donor = tradeoff_donor_run(run, settings)
        inputs["donor"] = [f"{tradeoff_run_dir(donor, seed)}/model.h5"
                           for seed in tradeoff_seeds()]
    return inputs


def tradeoff_train_settings(wildcards):
    """The settings of one configuration (its grid's epochs, if the grid sets them)."""
    keys = ("batch_size", "lr", "seeds", "test_repeats", "gzip_level", "tflite",
            "cluster_init", "weights", "precise_bn", "feature_cache", "head_norm")
    settings = config["study_b"]
    run = TradeoffRun(wildcards.dataset, wildcards.split, wildcards.arch, wildcards.technique,
                      wildcards.device)
    return {**{key: settings[key] for key in keys},
            "epochs": tradeoff_run_epochs(settings, run),
            "m2m": {"top_layers": settings["m2m"]["top_layers"]}}


TRADEOFF_SEED_TABLES = ("table2_accuracy", "table3_split_times", "table4_technique_times",
                        "table7_clustering")


def tradeoff_outputs():
    """Every final Study B target: run table, Tables 1-7, Figs. 3-8."""
    if not tradeoff_runs():
        return []
    tables = expand(res("tables/B/{table}.{ext}"), ext=["csv", "md"],
                    table=["table1_model_sizes", "table2_accuracy", "table3_split_times",
                           "table4_technique_times", "table7_clustering",
                           *[f"{table}_by_seed_mean" for table in TRADEOFF_SEED_TABLES]])
    rankings = expand(res("tables/B/opscore_{dataset}{suffix}.{ext}"),
                      dataset=tradeoff_datasets(), ext=["csv", "md"],
                      suffix=["", "_by_seed_mean"])
    figures = expand(res("figures/B/{figure}.{ext}"), ext=["png", "svg"],
                     figure=["fig3_accuracy_curves", "fig4_accuracy_by_technique",
                             "fig5_accuracy_vs_unfrozen", "fig8_accuracy_vs_clusters"])
    bubbles = expand(res("figures/B/bubble_{dataset}.{ext}"), dataset=tradeoff_datasets(),
                     ext=["png", "svg"])
    return [res("tradeoff/runs.csv"), *tables, *rankings, *figures, *bubbles]


# ---------------------------------------------------------------- Reuse (recommender, scorecard)

STUDY_CATEGORIES = {"A": "Study A", "B": "Study B", "synthetic": "Synthetic curves"}


def study_category(wildcards):
    """Report category of a per-study output: the study it belongs to."""
    return STUDY_CATEGORIES.get(wildcards.study, f"Study {wildcards.study}")


def reuse_outputs():
    settings = config["recommend"]
    recommendations = expand(res("tables/reuse/{study}/recommend_{task}.{ext}"),
                             study=settings["studies"], task=settings["tasks"],
                             ext=["csv", "md"])
    forecast = [] if "refine" not in settings["tasks"] else expand(
        res("tables/reuse/{study}/recommend_refine_forecast.{ext}"),
        study=[study for study in settings["studies"] if study in forecast_sets()],
        ext=["csv", "md"])
    return [*recommendations, *forecast, res("tables/reuse/scorecard.csv"),
            res("tables/reuse/scorecard.md")]


def scorecard_inputs(wildcards):
    """Tables the scorecard reads; Study B's only where the config has Study B runs."""
    inputs = {"eq11": res("tables/A/eq11_check.csv"),
              "nasbench": expand(res("tables/nasbench/{source}/claims.csv"),
                                 source=nasbench_sources()),
              "baselines": [], "forecast": forecast_claim_backtests()}
    if tradeoff_runs():
        inputs["runs"] = res("tradeoff/runs.csv")
        inputs["model_sizes"] = res("tables/B/table1_model_sizes.csv")
        inputs["baselines"] = tradeoff_baseline_files()
    return inputs


# ---------------------------------------------------------------- Model cards


def model_card_inputs(wildcards):
    """A study's run folders (curves, provenance or summary, checkpoint) and metric tables."""
    study = wildcards.study
    inputs = {table: res(f"metrics/{study}/{table}.parquet")
              for table in ("metrics", "pairs", "unpaired")}
    if study == "A":
        run_dirs = study_a_run_dirs()
        inputs["records"] = [f"{run_dir}/provenance.json" for run_dir in run_dirs]
        inputs["checkpoints"] = [f"{run_dir}/checkpoint.pt" for run_dir in run_dirs]
    else:
        run_dirs = tradeoff_run_dirs()
        inputs["records"] = [f"{run_dir}/summary.json" for run_dir in run_dirs]
        inputs["runs"] = res("tradeoff/runs.csv")
    inputs["curves"] = [f"{run_dir}/curves.csv" for run_dir in run_dirs]
    return inputs


def model_card_outputs():
    """The card index of Study A, and of Study B where the config has Study B runs."""
    studies = ["A", "B"] if tradeoff_runs() else ["A"]
    return expand(res("cards/{study}/index.md"), study=studies)


def all_outputs():
    studies = ["synthetic", "A", "B"]
    metric_tables = expand(res("metrics/{study}/{table}.{ext}"), study=studies,
                           table=["metrics", "pairs", "unpaired"], ext=["csv", "parquet"])
    summaries = expand(res("tables/{study}/metrics_summary.md"), study=studies)
    return [*metric_tables, *summaries, *study_a_outputs(), *nasbench_outputs(),
            *tradeoff_outputs(), *reuse_outputs(), *model_card_outputs(), *forecast_outputs()]


# ---------------------------------------------------------------- Convergence forecasts

NASBENCH_CURVES = "nasbench-"  # curve set of a NAS-Bench-101 source: nasbench-{source}
MINI_EPOCH_CURVES = "nasbench/mini/epoch_curves.csv"  # rule mini_nasbench's per-epoch curves


def forecast_sets():
    """Curve sets the forecast stage forecasts and backtests (none when it is disabled)."""
    settings = config["forecast"]
    if not settings["enabled"]:
        return []
    sets = []
    for study in settings["studies"]:
        if study == "nasbench":
            sets += [f"{NASBENCH_CURVES}{source}" for source in nasbench_sources()]
        elif study != "B" or tradeoff_runs():
            sets.append(study)
    return sets + [f"{LOGS_CURVES}{name}" for name in settings["logs"]]


LOGS_CURVES = "logs-"  # curve set of training logs a user has: logs-{name} of forecast.logs


def forecast_logs_source(wildcards):
    """The folder or file of forecast.logs that curve set logs-{name} is read from."""
    return config["forecast"]["logs"][wildcards.name]


def forecast_curve_files(wildcards):
    """The curve tables of a curve set. A NAS-Bench source's: its cells' contours, but the
    mini's per-epoch curves (losses at every epoch, which contours over 4 budgets lack)."""
    if wildcards.study == f"{NASBENCH_CURVES}mini":
        return [res(MINI_EPOCH_CURVES)]
    if wildcards.study.startswith((NASBENCH_CURVES, LOGS_CURVES)):
        return [res(f"forecast/curves/{wildcards.study}.csv")]
    return curve_files(wildcards)


def forecast_settings():
    """Only the settings the forecast rules use."""
    return {key: config["forecast"][key] for key in ("observed", "predictors", "draws", "seed")}


PFN_WEIGHTS = "forecast/pfn/weights.pt"


def forecast_pfn_weights(wildcards):
    """The pfn predictor's weights: the configured checkpoint, else the pipeline's own."""
    settings = config["forecast"]
    if "pfn" not in settings["predictors"]:
        return []
    return settings["pfn"]["weights"] or res(PFN_WEIGHTS)


def pfn_training_settings():
    """How the pipeline trains its own PFN (used when forecast.pfn.weights is null)."""
    return {key: config["forecast"]["pfn"][key] for key in ("size", "steps", "seed", "device")}


def pfn_gpu_count(wildcards):
    """One GPU for the PFN's training unless it trains on the CPU."""
    return 0 if config["forecast"]["pfn"]["device"] == "cpu" else 1


def forecast_category(wildcards):
    """Report category of a curve set's forecasts: its study, or NAS-Bench-101."""
    if wildcards.study.startswith(NASBENCH_CURVES):
        return "NAS-Bench-101"
    if wildcards.study.startswith(LOGS_CURVES):
        return "Training logs"
    return study_category(wildcards)


def forecast_subcategory(wildcards):
    """Forecasts sit with the NAS-Bench source they belong to, else under "Forecasts"."""
    if wildcards.study.startswith(NASBENCH_CURVES):
        return wildcards.study.removeprefix(NASBENCH_CURVES)
    if wildcards.study.startswith(LOGS_CURVES):
        return wildcards.study.removeprefix(LOGS_CURVES)
    return "Forecasts"


def forecast_outputs():
    sets = forecast_sets()
    tables = expand(res("tables/forecast/{study}/{table}.{ext}"), study=sets,
                    table=["forecast", "backtest"], ext=["md"])
    figures = expand(res("figures/forecast/{study}/backtest_{figure}.png"), study=sets,
                     figure=["coverage", "error"])
    return [*tables, *figures]


def model_card_forecast(wildcards):
    """The forecast table of a study's runs where the forecast stage covers the study."""
    if wildcards.study in forecast_sets():
        return res(f"forecast/{wildcards.study}/forecast.csv")
    return []


def forecast_claim_backtests():
    """Per-run backtest tables the scorecard's forecast claim pools: the trained studies'.
    Synthetic curves are power laws by construction (they would favour PW); a NAS-Bench
    contour's points lie at geometrically spaced epochs, so a fit over its point index turns
    a power law in epochs into an exponential (the claim is about curves over epochs)."""
    return [res(f"forecast/{study}/backtest_runs.csv") for study in forecast_sets()
            if study in ("A", "B")]
