"""The one Snakemake report of the tiny run: every table and figure, grouped by study."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from conftest import snakemake

from reusebench.reporting.recommend import TASKS

pytestmark = pytest.mark.e2e

CATEGORIES = {"Study A", "Study B", "NAS-Bench-101", "Reuse", "Synthetic curves"}


def embedded(html: str, name: str) -> dict:
    """A JSON object the report embeds as ``var NAME = {...};``."""
    start = html.index(f"var {name} = {{") + len(f"var {name} = ")
    return json.JSONDecoder().raw_decode(html, start)[0]


def decoded(entry: dict) -> str:
    return base64.b64decode(entry["data_uri"].split(",", 1)[1]).decode()


@pytest.fixture(scope="module")
def report(finished_run: Path) -> tuple[dict, dict]:
    result = snakemake(finished_run, "--configfile", "tiny.yaml", "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (finished_run / "report.html").read_text()
    return embedded(html, "categories"), embedded(html, "results")


def test_report_groups_its_results_by_study_with_the_reuse_section(report):
    categories, _ = report
    assert set(categories) == CATEGORIES
    for study in ("Study A", "Study B"):
        assert {"Tables", "Figures"} <= set(categories[study])
    assert categories["Reuse"]["Scorecard"] == ["results/tables/reuse/scorecard.md"]
    assert sorted(categories["Reuse"]["Recommendations"]) == sorted(
        [*(f"results/tables/reuse/A/recommend_{task}.md" for task in TASKS),
         "results/tables/reuse/A/recommend_refine_forecast.md"])
    assert set(categories["NAS-Bench-101"]) == {"mini"}


def test_report_holds_every_table_and_figure_of_the_run_with_a_caption(report, finished_run):
    _, results = report
    tables = {}
    for path in (finished_run / "results" / "tables").rglob("*"):
        if path.suffix in (".csv", ".md"):
            tables.setdefault(path.with_suffix(""), set()).add(
                str(path.relative_to(finished_run)))
    missing = [str(stem) for stem, files in tables.items() if not files & set(results)]
    assert not missing, missing  # each table as its CSV or its Markdown
    figures = {str(path.relative_to(finished_run))
               for path in (finished_run / "results" / "figures").rglob("*")
               if path.suffix in (".png", ".html")}
    assert figures and figures <= set(results)
    assert all(entry["caption"].strip() for entry in results.values())


def test_report_scorecard_is_the_scorecard_the_run_wrote(report, finished_run):
    _, results = report
    scorecard = decoded(results["results/tables/reuse/scorecard.md"])
    assert scorecard == (finished_run / "results" / "tables" / "reuse" /
                         "scorecard.md").read_text()
    assert scorecard.startswith("# Paper-claims scorecard\n\n16 claims:")
    assert "| B | ResNet101 takes 1.6-1.8x the training time of ResNet50 |" in scorecard
    # tiny.yaml trains no ResNet
    assert "| default |  |  | not run | no ResNet50 / ResNet101 runs" in scorecard
