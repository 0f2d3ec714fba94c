"""pyproject.toml declares what the portal's code uses: every third-party package its apps
import (a package that arrives only as another's dependency can vanish with an upgrade of
that one), at a version that has what the templates use."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
APPS = ("mof", "changes", "operations", "incidents", "slas", "reviews", "integrations")


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(r.name): r for r in map(Requirement, project["dependencies"])}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> set[str]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in APPS and m != "__future__"}


def test_every_third_party_package_the_apps_import_is_declared():
    distributions = packages_distributions()
    names = set(declared())
    missing = {}
    for module in imported_modules():
        dists = {_norm(d) for d in distributions.get(module, [])}
        assert dists, f"{module} is imported but not installed"
        if not dists & names:
            missing[module] = sorted(dists)
    assert not missing, f"imported but not declared in pyproject.toml's dependencies: {missing}"


def test_django_htmx_is_recent_enough_for_the_template_tags_used():
    uses_htmx_script = any("{% htmx_script" in p.read_text() for p in (ROOT / "templates").rglob("*.html"))
    assert uses_htmx_script
    minimum = [Version(s.version) for s in declared()["django-htmx"].specifier if s.operator == ">="]
    assert minimum and minimum[0] >= Version("1.23"), "{% htmx_script %} came with django-htmx 1.23"
