"""The layers point one way: views call services and selectors, never the reverse. A service,
selector or model that imported a view would tie the business rules to the web layer (and
pull the whole page machinery into every Celery task)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("mof", "changes", "incidents", "operations", "reviews", "slas", "integrations")
LOWER_LAYERS = ("services", "selectors", "models")


def is_layer(path: Path, layers) -> bool:
    """services.py, services_x.py, x_services.py and anything inside a services/ package."""
    parts = [*path.parent.relative_to(ROOT).parts[1:], path.stem]
    return any(
        part == layer or part.startswith(f"{layer}_") or part.endswith(f"_{layer}")
        for part in parts
        for layer in layers
    )


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module imported anywhere in the file, function-level imports included, with
    relative imports resolved against `package`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def lower_layer_files():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts or not is_layer(path, LOWER_LAYERS):
                continue
            yield path


def test_the_walk_finds_the_lower_layers():
    names = {str(p.relative_to(ROOT)) for p in lower_layer_files()}
    assert {"incidents/services.py", "reviews/selectors.py", "changes/models.py"} <= names


@pytest.mark.parametrize("path", list(lower_layer_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_service_selector_or_model_imports_a_view(path):
    package = ".".join(path.parent.relative_to(ROOT).parts)
    views = sorted(
        m for m in imported_modules(path, package) if is_layer(Path(ROOT, *m.split(".")).with_suffix(".py"), ("views",))
    )
    assert not views, f"{path.relative_to(ROOT)} imports the web layer: {views}"
