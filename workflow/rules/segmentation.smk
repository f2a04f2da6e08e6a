wildcard_constraints:
    lr="[0-9.e+-]+",
    seed="[0-9]+",
    device="[a-z][a-z0-9-]*",


rule pretrain:
    """The 'pretrained' init: an architecture trained from random weights on the source set."""
    input:
        res("data/{source}.npz"),
    output:
        checkpoint=res("pretrained/{source}/{arch}.pt"),
        curves=res("pretrained/{source}/{arch}_curves.csv"),
    params:
        settings=config["study_a"]["pretrain"],
        training=study_a_pretrain_training(),
    log:
        res("logs/pretrain/{source}/{arch}.log"),
    benchmark:
        res("benchmarks/pretrain/{source}/{arch}.tsv")
    threads: 1
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/pretrain.py"


rule train:
    """One Study A configuration, all seeds in one job: per seed its own run folder with curves,
    provenance and checkpoint (paper A, Table 3)."""
    input:
        data=res("data/{dataset}.npz"),
        pretrained=study_a_pretrained_checkpoint,
    output:
        curves=study_a_seed_files("curves.csv"),
        provenance=study_a_seed_files("provenance.json"),
        checkpoint=study_a_seed_files("checkpoint.pt"),
    params:
        training=study_a_training(),
    log:
        res("logs/train/A/{dataset}/{arch}/{init}/lr{lr}/{device}.log"),
    benchmark:
        res("benchmarks/train/A/{dataset}/{arch}/{init}/lr{lr}/{device}.tsv")
    threads: 1
    resources:
        gpu=gpu_count,
        gpu_model=gpu_model,
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/train.py"


rule study_a_all:
    """Every Study A table and figure: `snakemake study_a_all` runs Study A alone."""
    input:
        study_a_outputs(),
