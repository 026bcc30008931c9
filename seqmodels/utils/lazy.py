"""A package whose names are imported from its modules when first used (PEP 562).

``import seqmodels.data.conll`` runs ``seqmodels/data/__init__.py`` first; with lazy names that costs nothing,
where importing every module there would import Lightning (the DataModules) and tie the modules into import
cycles through the package. In the package::

    if TYPE_CHECKING:  # what type checkers and readers see
        from .vocab import Vocab
    else:
        __getattr__, __dir__ = lazy_exports(__name__, {"vocab": ("Vocab",)})
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, names_of_module: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's module-level ``__getattr__`` and ``__dir__``: ``names_of_module`` maps a module of the
    package (relative name) to the names it exports; each is imported on first access, then kept. The
    package's submodules are found as attributes too, as after an eager import. Define them under
    ``if not TYPE_CHECKING:``, so that a type checker still refuses a name the package lacks."""
    module_of = {name: module for module, names in names_of_module.items() for name in names}
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is not None:
            value = getattr(importlib.import_module(f".{module}", package), name)
        elif importlib.util.find_spec(f"{package}.{name}") is not None:  # a submodule: ``seqmodels.data.vocab``
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__
