rule synthetic_curves:
    """A curve table with known structure, generated offline (one file per dataset)."""
    output:
        res("curves/synthetic/{dataset}.csv"),
    params:
        settings=config["synthetic_curves"],
    log:
        res("logs/synthetic_curves/{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/synthetic_curves.py"
