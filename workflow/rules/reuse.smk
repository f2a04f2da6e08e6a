rule recommend:
    """Runs of a study ranked for one reuse task of Study A Table 1, with the reason per row."""
    input:
        metrics=res("metrics/{study}/metrics.parquet"),
        pairs=res("metrics/{study}/pairs.parquet"),
    output:
        csv=res("tables/reuse/{study}/recommend_{task}.csv"),
        markdown=report(
            res("tables/reuse/{study}/recommend_{task}.md"),
            caption="../report/reuse_recommend.rst",
            category="Reuse",
            subcategory="Recommendations",
        ),
    wildcard_constraints:
        task="[a-z]+",
    params:
        top=config["recommend"]["top"],
    log:
        res("logs/reuse/recommend_{study}_{task}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/recommend.py"


rule recommend_forecast:
    """Task refine ranked by the M_er each run's first N epochs predicted, with its interval."""
    input:
        metrics=res("metrics/{study}/metrics.parquet"),
        pairs=res("metrics/{study}/pairs.parquet"),
        forecast=res("forecast/{study}/forecast.csv"),
    output:
        csv=res("tables/reuse/{study}/recommend_refine_forecast.csv"),
        markdown=report(
            res("tables/reuse/{study}/recommend_refine_forecast.md"),
            caption="../report/reuse_recommend_forecast.rst",
            category="Reuse",
            subcategory="Recommendations",
        ),
    params:
        top=config["recommend"]["top"],
    log:
        res("logs/reuse/recommend_{study}_refine_forecast.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/recommend.py"


rule scorecard:
    """Each checkable claim of both papers: the paper's number, ours, and the verdict."""
    input:
        unpack(scorecard_inputs),
    output:
        csv=res("tables/reuse/scorecard.csv"),
        markdown=report(
            res("tables/reuse/scorecard.md"),
            caption="../report/reuse_scorecard.rst",
            category="Reuse",
            subcategory="Scorecard",
        ),
    params:
        scale=config["scale"],
        nasbench_sources=nasbench_sources(),
    log:
        res("logs/reuse/scorecard.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/scorecard.py"
