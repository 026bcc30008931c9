"""The package's layout rules, read from the source: layers import only downwards, Hydra stays at the top.

The layer order (docs/ARCHITECTURE.md) from the bottom up; a module may import from its own layer and
the ones below, never from a layer above. The check parses every module's imports (function-local
ones too) with ``ast``, so it needs no import to succeed and sees what a reader sees.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "seqmodels"

LAYERS = [
    ["utils"],
    ["functional"],
    ["kernels"],
    ["cells"],
    ["layers"],
    ["rnn", "interop"],
    ["data"],
    ["models"],
    ["checkpoints"],
    ["inference"],
    ["tasks"],
    ["callbacks"],
    ["commands"],
    ["bench"],
]
LEVEL = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}
HYDRA_ROOMS = {"checkpoints", "commands", "bench"}  # rebuild objects from configs; nothing below knows Hydra


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or target == "seqmodels":  # `from . import x` / `from seqmodels import x`
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "seqmodels" and len(parts) > 1 else None


def test_every_room_has_a_layer():
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    rooms |= {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert rooms == set(LEVEL), (
        f"rooms without a layer: {sorted(rooms - set(LEVEL))}, layers without a room: {sorted(set(LEVEL) - rooms)}"
    )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_a_layer_above_it(path):
    own = room(module_name(path))
    upward = [
        f"line {line}: {target}"
        for line, target in imported(path)
        if room(target) in LEVEL and LEVEL[room(target)] > LEVEL[own]
    ]
    assert not upward, f"{own} (layer {LEVEL[own]}) imports from above: {upward}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_hydra_only_where_configs_become_objects(path):
    if room(module_name(path)) in HYDRA_ROOMS:
        return
    uses = [
        f"line {line}: {target}" for line, target in imported(path) if target.split(".")[0] in ("hydra", "omegaconf")
    ]
    assert not uses, f"{path.relative_to(ROOT)} imports Hydra/OmegaConf: {uses}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """A positive control: a cell importing a layer and a task is reported, relative or absolute."""
    bad = tmp_path / "seqmodels" / "cells" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from ..layers import Recurrent\n\ndef f():\n    import seqmodels.tasks.base\n")
    targets = [t for _, t in imported(bad, tmp_path)]
    assert targets == ["seqmodels.layers", "seqmodels.tasks.base"]
    assert all(LEVEL[room(t)] > LEVEL["cells"] for t in targets)


def test_the_wheel_lists_every_package_folder():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {module_name(p) for p in PACKAGE.rglob("__init__.py")} | {"seqmodels.configs"}
    assert listed == on_disk, (
        f"missing from pyproject: {sorted(on_disk - listed)}, not on disk: {sorted(listed - on_disk)}"
    )
