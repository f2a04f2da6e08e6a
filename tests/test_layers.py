"""The package's layers: imports point one way, and only training imports torch or TF."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "reusebench"
LAYERS = ("core", "data", "training", "reporting", "glue")
ALLOWED = {  # layer -> the layers it may import
    "core": {"core"},
    "data": {"core", "data"},
    "training": {"core", "data", "training"},
    "reporting": {"core", "data", "reporting"},
    "glue": set(LAYERS) | {"public"},
    "public": {"core", "public"},  # reusebench.log and its callbacks: the logger's import path
}
FRAMEWORKS = {"torch", "torchvision", "segmentation_models_pytorch", "tensorflow", "tf_keras",
              "tensorflow_model_optimization", "keras", "lightning", "pytorch_lightning"}
FRAMEWORK_LAYERS = {"training", "public"}  # public: the Keras and Lightning callbacks


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "public"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports: import statements anywhere, and require(extra, module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" if _is_module(f"{node.module}.{alias.name}")
                      else node.module for alias in node.names}
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require"
              and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)):
            found.add(node.args[1].value)
    return found


def package_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules.append((name, path))
    return modules


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def breaches() -> list[str]:
    found: list[str] = []
    for module, path in package_modules():
        if module in ("reusebench", "reusebench.__main__"):
            continue
        layer = layer_of(module)
        for target in sorted(imported_modules(path)):
            top = target.split(".")[0]
            if top == "reusebench" and target != "reusebench":
                if layer_of(target) not in ALLOWED[layer]:
                    found.append(f"{module} ({layer}) imports {target} ({layer_of(target)})")
            elif top in FRAMEWORKS and layer not in FRAMEWORK_LAYERS:
                found.append(f"{module} ({layer}) imports {target}")
    return found


def test_every_module_lives_in_a_layer_or_is_the_public_logger():
    public = [module for module, _ in package_modules() if layer_of(module) == "public"]
    assert public == ["reusebench", "reusebench.__main__", "reusebench.log",
                      "reusebench.log_keras", "reusebench.log_lightning"]


def test_imports_point_one_way_and_only_training_imports_frameworks():
    assert breaches() == []


def test_the_layer_check_catches_a_breach():
    bad = PACKAGE / "core" / "_layer_probe.py"
    bad.write_text("from reusebench.reporting import markdown\nimport torch\n")
    try:
        assert breaches() == ["reusebench.core._layer_probe (core) imports "
                              "reusebench.reporting.markdown (reporting)",
                              "reusebench.core._layer_probe (core) imports torch"]
    finally:
        bad.unlink()


@pytest.mark.parametrize("rule_file", sorted((ROOT / "workflow" / "rules").glob("*.smk")),
                         ids=lambda path: path.name)
def test_rule_files_import_no_library_module_and_common_only_the_workflow_glue(rule_file):
    imports = re.findall(r"^\s*(?:from|import)\s+(reusebench[\w.]*)", rule_file.read_text(),
                         flags=re.MULTILINE)
    allowed = {"reusebench.glue.workflow"} if rule_file.name == "common.smk" else set()
    assert set(imports) <= allowed
