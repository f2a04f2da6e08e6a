"""Study B names: technique grammar, split ratios, the run grid and its m2m donors."""

import pytest

from reusebench.core.errors import InputError
from reusebench.core.tradeoff_runs import (
    Run,
    Technique,
    curve_dataset,
    expand_runs,
    parse_split,
    parse_technique,
    run_epochs,
    seeds_of,
)

M2M = {"donors": {"resnet50": "resnet101"}, "donor_technique": "top1", "top_layers": 10}


@pytest.mark.parametrize(("name", "expected"), [
    ("base", Technique("base", "base", None, None)),
    ("top1", Technique("top1", "base", None, 1)),
    ("top10", Technique("top10", "base", None, 10)),
    ("fp16", Technique("fp16", "fp16", None, None)),
    ("fp16-top10", Technique("fp16-top10", "fp16", None, 10)),
    ("cluster512", Technique("cluster512", "cluster", 512, None)),
    ("cluster16-top1", Technique("cluster16-top1", "cluster", 16, 1)),
    ("m2m", Technique("m2m", "m2m", None, None)),
    ("m2m-top10", Technique("m2m-top10", "m2m", None, 10)),
])
def test_techniques_parse_to_method_clusters_and_unfreezing(name, expected):
    assert parse_technique(name) == expected


@pytest.mark.parametrize(("name", "fragment"), [
    ("prune", "unknown technique 'prune'"),
    ("cluster0", "K (number of clusters) = 0"),
    ("cluster-4", "K (number of clusters) = -4"),
    ("top0", "N = 0"),
    ("base-top3", "is written top3"),
    ("fp16-top", "unknown technique"),
])
def test_bad_techniques_raise_one_sentence_naming_them(name, fragment):
    with pytest.raises(InputError) as caught:
        parse_technique(name)
    message = str(caught.value)
    assert fragment in message
    assert message.count(". ") == 0 and message.endswith(".")


@pytest.mark.parametrize(("split", "fraction"), [("own", None), ("50-50", 0.5),
                                                 ("70-30", 0.7), ("90-10", 0.9)])
def test_splits_give_the_train_fraction(split, fraction):
    assert parse_split(split) == fraction


@pytest.mark.parametrize("split", ["60-30", "0-100", "seventy", "100-0"])
def test_bad_splits_are_rejected(split):
    with pytest.raises(InputError, match="sum to 100"):
        parse_split(split)


def test_curve_dataset_key_carries_the_split_unless_it_is_the_own_one():
    assert curve_dataset("cifar10", "own") == "cifar10"
    assert curve_dataset("cifar100", "70-30") == "cifar100-70-30"


def test_grids_expand_to_the_union_of_their_products_plus_m2m_donors():
    section = {"m2m": M2M, "files": {}, "runs": [
        {"datasets": ["synth10", "synth100"], "archs": ["vgg16"], "techniques": ["top1"]},
        {"datasets": ["synth10"], "archs": ["resnet50"], "techniques": ["m2m-top1"],
         "splits": ["own", "70-30"], "devices": ["cpu"]},
        {"datasets": ["synth10"], "archs": ["vgg16"], "techniques": ["top1"]},  # repeated
    ]}
    runs = expand_runs(section)
    assert runs == sorted(runs) and len(runs) == len(set(runs))
    assert Run("synth100", "own", "vgg16", "top1", "cpu") in runs
    assert Run("synth10", "70-30", "resnet50", "m2m-top1", "cpu") in runs
    # each m2m run brings its donor: ResNet101 trained top1 on the same data and split
    assert Run("synth10", "70-30", "resnet101", "top1", "cpu") in runs
    assert Run("synth10", "own", "resnet101", "top1", "cpu") in runs
    assert len(runs) == 2 + 2 + 2


@pytest.mark.parametrize(("grid", "fragment"), [
    ({"datasets": ["synth10"], "archs": ["resnet18"], "techniques": ["top1"]},
     "study_b.runs.0.archs.0: unknown model 'resnet18'"),
    ({"datasets": ["imagenet"], "archs": ["vgg16"], "techniques": ["top1"]},
     "study_b.runs.0.datasets.0: unknown dataset 'imagenet'"),
    ({"datasets": ["synth10"], "archs": ["vgg16"], "techniques": ["top1", "cluster0"]},
     "study_b.runs.0.techniques.1"),
    ({"datasets": ["synth10"], "archs": ["vgg16"], "techniques": ["m2m"]},
     "m2m needs a donor model for 'vgg16'"),
    ({"datasets": ["synth10"], "archs": ["vgg16"], "techniques": ["top1"],
      "splits": ["80-30"]}, "study_b.runs.0.splits.0"),
])
def test_bad_grid_entries_name_their_config_key(grid, fragment):
    with pytest.raises(InputError) as caught:
        expand_runs({"m2m": M2M, "files": {}, "runs": [grid]})
    assert fragment in str(caught.value)


def test_npz_files_in_the_config_are_known_datasets():
    section = {"m2m": M2M, "files": {"mine": "data/mine.npz"},
               "runs": [{"datasets": ["mine"], "archs": ["vgg16"], "techniques": ["top1"]}]}
    assert expand_runs(section) == [Run("mine", "own", "vgg16", "top1", "cpu")]


def test_a_grid_may_set_its_own_epochs_and_others_take_the_default():
    section = {"m2m": M2M, "files": {}, "epochs": 10, "seeds": [0, 1, 2], "runs": [
        {"datasets": ["synth10"], "archs": ["vgg16"], "techniques": ["top1"]},
        {"datasets": ["synth10"], "archs": ["vgg16"], "techniques": ["base"], "epochs": 1},
    ]}
    expand_runs(section)
    assert run_epochs(section, Run("synth10", "own", "vgg16", "top1", "cpu")) == 10
    assert run_epochs(section, Run("synth10", "own", "vgg16", "base", "cpu")) == 1


def test_two_grids_giving_one_run_different_epochs_is_one_sentence():
    grid = {"datasets": ["synth10"], "archs": ["vgg16"], "techniques": ["top1"]}
    section = {"m2m": M2M, "files": {}, "epochs": 3,
               "runs": [{**grid, "epochs": 1}, {**grid, "epochs": 2}]}
    with pytest.raises(InputError) as caught:
        expand_runs(section)
    assert "different epochs" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1]])
def test_bad_seed_lists_are_one_sentence_naming_the_key(seeds):
    with pytest.raises(InputError, match=r"study_b\.seeds"):
        seeds_of({"seeds": seeds})
    assert seeds_of({}) == [0]


@pytest.mark.parametrize("source, splits, fragment", [
    ("nowhere", ["own"], "study_b.pretrain.source: unknown dataset 'nowhere'"),
    ("mine", ["own", "70-30"], "split '70-30' would test on images the backbone was"),
])
def test_a_pretraining_source_must_be_known_and_keep_its_test_split_unseen(source, splits,
                                                                           fragment):
    section = {"m2m": M2M, "files": {"mine": "data/mine.npz"}, "pretrain": {"source": source},
               "runs": [{"datasets": ["mine"], "splits": splits, "archs": ["vgg16"],
                         "techniques": ["top1"]}]}
    with pytest.raises(InputError, match=fragment):
        expand_runs(section)
    section["pretrain"]["source"], section["runs"][0]["splits"] = "mine", ["own"]
    assert expand_runs(section) == [Run("mine", "own", "vgg16", "top1", "cpu")]
