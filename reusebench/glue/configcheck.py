"""Config files checked as a user reads them: the file, the line and what is wrong.

The workflow checks ``config/config.yaml`` before Snakemake reads it, and
``reusebench check-config FILE`` checks a config of one's own (Snakemake reads a
``--configfile`` itself before the workflow starts, and names neither file nor line).
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from reusebench.core.errors import InputError


def load_config_file(path: str | Path) -> dict:
    """The mapping in YAML file ``path``; InputError naming the file (and line) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Config file {path} does not exist"
                         + (" (it is a folder)." if path.is_dir() else "."))
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(_yaml_problem(path, error)) from None
    if tree is None:
        raise InputError(f"Config file {path} is empty: it needs keys such as study_a or "
                         "metrics at the top level.")
    if not isinstance(tree, dict):
        raise InputError(f"Config file {path} holds a {type(tree).__name__}, not keys at the "
                         "top level.")
    return tree


def _yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = str(getattr(error, "problem", None) or "not valid YAML")
    if "\\t" in problem or "\t" in problem:
        problem = "a tab where YAML wants spaces (indent with spaces)"
    return f"Config file {path}{where}: {problem}."


def typed_strings(value: object, node: object, root: dict) -> object:
    """``value`` with each string read as YAML where the schema wants no string there.

    ``--config metrics='{delta: 3}'`` hands the nested 3 over as the string '3'; the schema
    says delta is an integer, so it becomes 3. A string the schema allows stays a string.
    """
    while isinstance(node, dict) and "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    node = node if isinstance(node, dict) else {}
    if isinstance(value, dict):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties", {})
        return {key: typed_strings(item, properties.get(key, extra), root)
                for key, item in value.items()}
    if isinstance(value, list):
        return [typed_strings(item, node.get("items", {}), root) for item in value]
    wanted = node.get("type")
    wanted = [wanted] if isinstance(wanted, str) else wanted or []
    if isinstance(value, str) and wanted and "string" not in wanted:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return typed_strings(parsed, node, root) if not isinstance(parsed, str) else value
    return value


def schema_problem(config: dict, schema_path: str | Path) -> str | None:
    """The most relevant schema violation of ``config`` as one sentence; None if valid."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"invalid configuration key '{key}' (see {schema_path}): {error.message}."


def check_config_file(path: str | Path, schema_path: str | Path) -> dict:
    """A user's config file read and checked against the schema; InputError naming the
    file and the key otherwise."""
    tree = load_config_file(path)
    schema = yaml.safe_load(Path(schema_path).read_text())
    problem = schema_problem(typed_strings(tree, schema, schema), schema_path)
    if problem is not None:
        raise InputError(f"Config file {path}: {problem}")
    return tree
