rule model_cards:
    """A model card (README.md with Hugging Face metadata, card.json, curves.png) per run."""
    input:
        unpack(model_card_inputs),
        forecast=model_card_forecast,
    output:
        cards=directory(res("cards/{study}/runs")),
        index=report(
            res("cards/{study}/index.md"),
            caption="../report/model_cards.rst",
            category="Study {study}",
            subcategory="Model cards",
        ),
    wildcard_constraints:
        study="A|B",
    log:
        res("logs/cards/{study}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/model_cards.py"
