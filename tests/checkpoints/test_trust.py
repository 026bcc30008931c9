"""Which ``_target_``s a checkpoint's config may name: module boundaries, the torch kinds, and the two ways a
user trusts more (``trusted=`` and ``$SEQMODELS_TRUSTED_TARGETS``), down to ``load_model``.

Two real modules are written to a temporary folder on ``sys.path``: a user's cell, and ``seqmodelsevil``,
whose name starts with ``seqmodels`` but which is not seqmodels, holding a class that writes a marker file
when it is instantiated.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from seqmodels.checkpoints import CHECKPOINT_KEY, TRUST_ENV, check_targets, load_model
from seqmodels.checkpoints.trust import iter_targets
from seqmodels.models import RNNClassifier
from seqmodels.tasks import ClassificationTask
from tests.checkpoints.test_checkpoint import fit_and_checkpoint

USER, EVIL = "trust_test_user_cells", "seqmodelsevil"


@pytest.fixture(scope="module")
def modules(tmp_path_factory) -> Iterator[Path]:
    """The folder holding the two modules, on sys.path for this file's tests; returns the marker path."""
    folder = tmp_path_factory.mktemp("modules")
    marker = folder / "code_ran"
    (folder / f"{USER}.py").write_text(
        "from seqmodels.cells import GRUCell\n\n\n"
        'class PlainGRUCell(GRUCell):\n    """A user\'s own cell: here the GRU, unchanged."""\n'
    )
    (folder / f"{EVIL}.py").write_text(
        "import pathlib\n\n\n"
        "class Payload:\n"
        "    def __init__(self, *args, **kwargs):\n"
        f"        pathlib.Path({str(marker)!r}).write_text('ran')\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        yield marker
    for name in (USER, EVIL):
        sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def no_env_trust(monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)


def check(target: str, trusted=()) -> None:
    check_targets({"model": {"cell": {"_target_": target}}}, "test.ckpt", "config", trusted)


OUTSIDE = "is outside the modules a checkpoint may name"


# ------------------------------------------------------------------------------ module boundaries
@pytest.mark.parametrize(
    "target", [f"{EVIL}.Payload", "torch.nnx.Linear", "torch.optimizers.SGD", "seqmodels_extra.Cell", "seqmodels"]
)
def test_a_name_that_only_starts_like_a_trusted_module_is_outside(modules, target):
    """Refused on the string, before any import: ``seqmodelsevil`` exists and imports fine, the others do not."""
    if target == "seqmodels":  # the package itself is a module, not a class
        with pytest.raises(ValueError, match="is a module, not a class"):
            check(target)
        return
    with pytest.raises(ValueError, match=rf"config\.model\.cell\._target_='{target}' {OUTSIDE}"):
        check(target)
    assert not modules.exists()


def test_trusted_names_are_whole_module_paths_or_exact_targets(modules):
    check(f"{USER}.PlainGRUCell", trusted=[USER])
    check(f"{USER}.PlainGRUCell", trusted=[f"{USER}."])  # a trailing dot means the same module
    check(f"{USER}.PlainGRUCell", trusted=[f"{USER}.PlainGRUCell"])  # one exact target
    for prefix in (f"{USER}.Plain", "trust_test_user", f"{USER}.PlainGRUCel"):
        with pytest.raises(ValueError, match=OUTSIDE):
            check(f"{USER}.PlainGRUCell", trusted=[prefix])
    with pytest.raises(ValueError, match=OUTSIDE):
        check(f"{EVIL}.Payload", trusted=["seqmodels", "seqmodels."])


# ------------------------------------------------------------------------------ kinds under torch
@pytest.mark.parametrize(
    "target",
    [
        "torch.nn.LSTM",
        "torch.nn.Identity",
        "torch.optim.Adam",
        "torch.optim.lr_scheduler.StepLR",
        "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "seqmodels.cells.GRUCell",
        "seqmodels.models.RNNClassifier",
    ],
)
def test_modules_optimizers_and_schedulers_are_accepted(target):
    check(target)


@pytest.mark.parametrize(
    ("target", "trusted"),
    [
        ("torch.nn.Parameter", ()),  # a Tensor subclass
        ("torch.nn.utils.rnn.PackedSequence", ()),
        ("torch.optim.lr_scheduler.Counter", ()),  # collections.Counter, as the scheduler module imports it
        ("torch.Tensor", ["torch"]),  # even with all of torch trusted, only the three kinds
        ("torch.utils.data.DataLoader", ["torch"]),
    ],
)
def test_other_torch_classes_are_refused(target, trusted):
    if target == "torch.optim.lr_scheduler.Counter" and not hasattr(torch.optim.lr_scheduler, "Counter"):
        pytest.skip("this torch's lr_scheduler does not import Counter")
    with pytest.raises(ValueError, match=rf"_target_='{target}' is not a module, optimizer or scheduler; refused"):
        check(target, trusted)


def test_functions_are_refused_even_in_trusted_modules():
    with pytest.raises(ValueError, match=r"'torch\.nn\.functional\.relu' is a function, not a class"):
        check("torch.nn.functional.relu")
    with pytest.raises(ValueError, match=r"cannot be imported"):
        check("seqmodels.cells.NoSuchCell")


# ------------------------------------------------------------------------------ the environment
def test_the_environment_variable_adds_modules(modules, monkeypatch):
    target = f"{USER}.PlainGRUCell"
    with pytest.raises(ValueError, match=rf"{OUTSIDE} .*{TRUST_ENV}=trust_test_user_cells"):
        check(target)
    monkeypatch.setenv(TRUST_ENV, f" other.pkg , {USER} ,,")  # spaces and empty entries are ignored
    check(target)
    monkeypatch.setenv(TRUST_ENV, "trust_test_user")  # a prefix of the name is not its module
    with pytest.raises(ValueError, match=OUTSIDE):
        check(target)


# ------------------------------------------------------------------------------ through load_model
@pytest.fixture(scope="module")
def user_checkpoint(modules, tmp_path_factory) -> tuple[Path, ClassificationTask, torch.Tensor]:
    """A classifier with the user's cell, trained for an epoch by a real Trainer: (checkpoint, task, inputs)."""
    from trust_test_user_cells import PlainGRUCell

    torch.manual_seed(0)
    model = RNNClassifier(3, PlainGRUCell, hidden_size=6, input_size=2)
    config = {
        "model": {
            "_target_": "seqmodels.models.RNNClassifier",
            "num_classes": 3,
            "input_size": 2,
            "cell": {"_target_": f"{USER}.PlainGRUCell", "_partial_": True},
            "hidden_size": 6,
        }
    }
    task = ClassificationTask(model, functools.partial(torch.optim.Adam, lr=0.01), config=config)
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(4, 5, 2, generator=g), torch.tensor([5, 2, 3, 1]), torch.tensor([0, 1, 2, 1]))] * 2
    callback = fit_and_checkpoint(task, data, tmp_path_factory.mktemp("run"), epochs=1)
    return Path(callback.last_model_path), task, data[0][0]


def assert_same_network(rebuilt, task, x) -> None:
    from trust_test_user_cells import PlainGRUCell

    assert type(rebuilt.rnn.layers[0].cell) is PlainGRUCell
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x)[0], task.model.eval()(x)[0], rtol=0, atol=0)


def test_load_model_needs_the_users_module_trusted(user_checkpoint, monkeypatch):
    path, task, x = user_checkpoint
    with pytest.raises(ValueError, match=rf"{path}: config\.model\.cell\._target_='{USER}\.PlainGRUCell' {OUTSIDE}"):
        load_model(path)
    with pytest.raises(ValueError, match=OUTSIDE):
        load_model(path, trusted=["trust_test_user"])
    assert_same_network(load_model(path, trusted=[USER])[0], task, x)
    assert_same_network(load_model(path, trusted=[f"{USER}.PlainGRUCell"])[0], task, x)
    monkeypatch.setenv(TRUST_ENV, USER)
    assert_same_network(load_model(path)[0], task, x)


def test_load_model_never_instantiates_a_lookalike_module(user_checkpoint, modules, tmp_path):
    path, _, _ = user_checkpoint
    checkpoint = torch.load(path, weights_only=True)
    checkpoint[CHECKPOINT_KEY]["config"]["model"]["cell"] = {"_target_": f"{EVIL}.Payload", "_partial_": False}
    evil = tmp_path / "lookalike.ckpt"
    torch.save(checkpoint, evil)
    with pytest.raises(ValueError, match=rf"_target_='{EVIL}\.Payload' {OUTSIDE}"):
        load_model(evil, trusted=[USER])
    assert not modules.exists()


def test_a_target_inside_a_list_is_checked_and_named_by_its_path():
    """A config can hold code in a list (callbacks, layers): every item is walked, and the refusal names it."""
    config = {"model": {"_target_": "seqmodels.models.RNNClassifier", "layers": [{"x": 1}, {"_target_": "os.system"}]}}
    with pytest.raises(ValueError, match=r"^f\.ckpt: config\.model\.layers\[1\]\._target_='os\.system' is outside"):
        check_targets(config, "f.ckpt")
    nested = [[{"_target_": "subprocess.Popen"}]]
    with pytest.raises(ValueError, match=r"config\[0\]\[0\]\._target_='subprocess\.Popen'"):
        check_targets(nested, "f.ckpt")


def test_the_environment_variable_lists_several_modules_separated_by_commas(monkeypatch):
    monkeypatch.setenv(TRUST_ENV, "functools, collections")
    check_targets({"a": {"_target_": "functools.partial"}, "b": {"_target_": "collections.OrderedDict"}}, "f.ckpt")
    monkeypatch.setenv(TRUST_ENV, "functools")
    with pytest.raises(ValueError, match=r"config\.b\._target_='collections\.OrderedDict' is outside"):
        check_targets({"a": {"_target_": "functools.partial"}, "b": {"_target_": "collections.OrderedDict"}}, "f.ckpt")


def test_a_target_that_is_not_a_string_is_refused_by_name():
    with pytest.raises(ValueError, match=r"config\.model\._target_=5 is outside"):
        check_targets({"model": {"_target_": 5}}, "f.ckpt")


def test_iter_targets_walks_dicts_and_lists_in_order_from_the_root_named_config():
    config = {"a": {"_target_": "x", "b": [{"_target_": "y"}, 3, [{"_target_": "z"}]]}, "_target_": "top", "c": "d"}
    expected = [("config.a", "x"), ("config.a.b[0]", "y"), ("config.a.b[2][0]", "z"), ("config", "top")]
    assert list(iter_targets(config)) == expected
    assert list(iter_targets([{"_target_": "x"}], "cfg")) == [("cfg[0]", "x")]


def test_the_refusal_names_the_trusted_modules_and_the_top_level_package_to_allow():
    """The whole message, written out: the default ``where`` is ``config``, the trusted modules are the three
    built-in ones (no environment variable, no ``trusted=``) and the hint names the target's top-level package."""
    expected = (
        "f.ckpt: config.model._target_='os.path.join' is outside the modules a checkpoint may name "
        "(seqmodels, torch.nn, torch.optim); instantiating it could run any code. If you trust this file, "
        f"allow the module with {TRUST_ENV}=os"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        check_targets({"model": {"_target_": "os.path.join"}}, "f.ckpt")
    with pytest.raises(ValueError, match=r"\(seqmodels, torch\.nn, torch\.optim, my\.pkg\); .* allow the module with"):
        check_targets({"model": {"_target_": "os.path.join"}}, "f.ckpt", trusted=["my.pkg"])


def test_only_a_trailing_dot_is_dropped_from_a_trusted_name():
    """``trust_test_cellX`` is trusted as written (its last letter kept): its target passes the module check and
    fails only at the import, as the module does not exist."""
    for trusted in ("trust_test_cellX", "trust_test_cellX."):
        with pytest.raises(ValueError, match=r"_target_='trust_test_cellX\.Cell' cannot be imported"):
            check_targets({"_target_": "trust_test_cellX.Cell"}, "f.ckpt", trusted=[trusted])
