"""The console commands, one module each, and the only place where configs become objects.

=====================  ==================================  =========================
command                module                              config
=====================  ==================================  =========================
``seqmodels-train``    :mod:`.train`                       ``configs/train.yaml``
``seqmodels-eval``     :mod:`.evaluate`                    ``configs/eval.yaml``
``seqmodels-sample``   :mod:`.sample`                      ``configs/sample.yaml``
``seqmodels-score``    :mod:`.score`                       ``configs/score.yaml``
``seqmodels-translate`` :mod:`.translate`                  ``configs/translate.yaml``
=====================  ==================================  =========================

:mod:`.instantiate` holds the helpers that build data, model, task, trainer, loggers and callbacks
from a config; :mod:`.app` finds the configs and wraps ``hydra.main``; :mod:`.run_record` writes
``result.json``. Each command module has a plain function taking a composed config (what the tests
call) and ``main``, the console script.
"""
