"""Hydra configs, shipped inside the package so that the console scripts find them from any directory.

``seqmodels/cli.py`` points ``hydra.main(config_path="configs")`` here; the tests compose the same
files with ``hydra.initialize_config_module("seqmodels.configs")``. Groups: ``paths data model
model/cell task trainer logger callbacks experiment debug hparams_search`` (see README.md).
"""
