rule a10_download:
    """The NIST A10 archive (paper scale), unpacked to images/ and masks/; offline → one sentence."""
    output:
        directory("resources/data/{dataset}"),
    params:
        spec=study_a_dataset_spec,
    log:
        res("logs/data/download_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/a10_download.py"


rule dataset:
    """One Study A data set (synthetic, a user folder or the A10 download) as one .npz."""
    input:
        study_a_dataset_folder,
    output:
        res("data/{dataset}.npz"),
    params:
        spec=study_a_dataset_spec,
    log:
        res("logs/data/{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/dataset.py"


rule table4:
    """Study A Table 4: modality, classes, MPix, CV (Eq. 10), image counts per data set."""
    input:
        study_a_dataset_files(),
    output:
        csv=report(
            res("tables/A/table4_datasets.csv"),
            caption="../report/study_a_table4.rst",
            category="Study A",
            subcategory="Tables",
        ),
        markdown=res("tables/A/table4_datasets.md"),
    log:
        res("logs/data/table4.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/table4.py"
