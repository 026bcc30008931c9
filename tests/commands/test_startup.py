"""What the console scripts import before they do anything: the commands that only read a checkpoint
(predict, sample, score, translate) start without Lightning, whose import takes 3 to 5 s of their start-up, and
train and eval (``commands/console.py``) import it only after Hydra composed their config; the data packages
load their modules only when a name is used."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

WITHOUT_LIGHTNING = ["console", "predict", "sample", "score", "translate"]


def test_the_console_scripts_modules_import_no_lightning():
    code = (
        "import sys\n"
        f"for name in {WITHOUT_LIGHTNING!r}:\n"
        "    __import__(f'seqmodels.commands.{name}')\n"
        "    if any(m.split('.')[0] == 'lightning' for m in sys.modules):\n"
        "        print(name); break\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"seqmodels.commands.{result.stdout.strip()} imports Lightning"


def test_training_still_imports_it():  # a positive control for the check above
    code = "import sys, seqmodels.commands.train; print(any(m.split('.')[0] == 'lightning' for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("package", ["seqmodels.data", "seqmodels.data.corpora"])
def test_every_name_of_a_lazy_package_is_its_modules_own(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.startswith(f"{package}."), (name, value.__module__)
            assert getattr(importlib.import_module(value.__module__), name) is value
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'NoSuchName'"):
        module.NoSuchName  # noqa: B018


def test_after_importing_one_data_module_the_package_reads_as_if_all_were_imported():
    """The built-in tokenizers are registered, and submodules are attributes of their package."""
    code = (
        "from seqmodels.data.tokenizer_base import TOKENIZERS\n"
        "import seqmodels.data\n"
        "print(sorted(TOKENIZERS), seqmodels.data.vocab.Vocab.__name__, seqmodels.data.corpora.text.__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [
        "['abc',", "'bpe',", "'char',", "'ngram',", "'sentence',", "'word']", "Vocab", "seqmodels.data.corpora.text",
    ]  # fmt: skip


def test_a_command_that_cannot_be_imported_is_no_user_mistake(monkeypatch):
    """A failing import (a missing shared library) is reported as an error of the installation, with its trace,
    not as a mistake on the command line (exit status 2, no trace)."""
    import importlib

    from omegaconf import OmegaConf

    from seqmodels.commands import console

    def broken(name, *args, **kwargs):
        raise OSError("libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(importlib, "import_module", broken)
    run = console._imported_when_run("train", "train_for_hydra")
    with pytest.raises(RuntimeError, match="cannot import seqmodels.commands.train: libcudnn.so.9") as caught:
        run(OmegaConf.create({}))
    assert isinstance(caught.value.__cause__, OSError)
