"""The package's layers (docs/design.md) import only downwards: a module imports its own
package and the layers listed before its own, never one after it (or a sibling after it).
Imports inside functions count too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import latentscenes

# Bottom to top. A module of a layer may import the layers before it and its own package.
LAYERS = (
    "errors", "io", "config", "process", "parallel", "cameras",
    "data", "builders", "rendering", "scenes", "weights", "autoencoder",
    "models", "evaluation", "engine", "recipes",
    "export", "reports", "studies", "bench",
    "cli", "__main__",
)
PACKAGE = Path(latentscenes.__file__).parent


def _layer(module: str) -> str:
    """'latentscenes.models.latent' -> 'models'; the package root -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "latentscenes")
    return {name for name in names if name == "latentscenes" or name.startswith("latentscenes.")}


def layer_violations(package: Path = PACKAGE) -> list[str]:
    """The upward imports of every module under `package` (a folder named like the package)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path, package)
        own = _layer(module)
        for target in sorted(_imported(ast.parse(path.read_text(), str(path)))):
            other = _layer(target)
            if other in ("", own) or other == "__version__":
                continue
            if own not in LAYERS or other not in LAYERS:
                found.append(f"{module} -> {target}: layer missing from LAYERS")
            elif LAYERS.index(other) > LAYERS.index(own):
                found.append(f"{module} ({own}) imports upwards: {target} ({other})")
    return found


def test_every_module_imports_only_lower_layers():
    assert layer_violations() == []


def test_every_package_has_a_layer():
    packages = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert packages <= set(LAYERS), packages - set(LAYERS)


def test_the_check_catches_an_upward_import(tmp_path):
    """A rendering module importing the engine is reported (the check is not vacuous); the
    probe is a copy of the package's rendering layer in a temporary folder, plus one bad module."""
    package = tmp_path / "latentscenes"
    (package / "rendering").mkdir(parents=True)
    for path in (PACKAGE / "rendering").glob("*.py"):
        (package / "rendering" / path.name).write_text(path.read_text())
    assert layer_violations(package) == []
    (package / "rendering" / "_layer_probe.py").write_text("from latentscenes.engine.loop import train\n")
    assert layer_violations(package) == [
        "latentscenes.rendering._layer_probe (rendering) imports upwards: latentscenes.engine.loop (engine)"
    ]


def test_the_library_imports_without_the_cli():
    """Importing every layer below the CLI loads no `latentscenes.cli` module."""
    below = [f"latentscenes.{name}" for name in LAYERS[: LAYERS.index("cli")]]
    code = (
        "import importlib, pkgutil, sys, latentscenes\n"
        f"for name in {below!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('latentscenes.cli')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
