"""experiment=text_classifier end to end: the user's own csv files named on the command line, relative to the
working directory; an undecodable file reported in one block with the encoding option; no test file."""

from __future__ import annotations

import logging
import subprocess

import pytest

from seqmodels.checkpoints import CHECKPOINT_KEY, load_checkpoint
from seqmodels.commands.train import train
from tests.helpers.configs import QUIET, cli_env, compose_config, script, shrink

WORDS = {"sport": ["goal", "match", "team"], "food": ["soup", "bread", "caf\u00e9"], "music": ["song", "band", "tune"]}


def rows(n: int) -> str:
    """``n`` rows of a 3-class set whose class shows in its words; a quoted text with a comma and a line break."""
    out = ["label,text"]
    for i in range(n):
        label = sorted(WORDS)[i % 3]
        words = WORDS[label]
        out.append(f'{label},"{words[i % 3]}, {words[(i + 1) % 3]}\nand {words[(i + 2) % 3]}"')
    return "\n".join(out) + "\n"


@pytest.mark.slow
def test_train_on_my_csv_from_the_command_line(tmp_path):
    (tmp_path / "train.csv").write_bytes(rows(30).encode("latin-1"))
    (tmp_path / "test.csv").write_bytes(rows(9).encode("latin-1"))
    args = [
        script("seqmodels-train"),
        "experiment=text_classifier",
        "data.train=train.csv",
        "data.test=test.csv",
        "debug=fast",
        *QUIET,
        "logger=csv",
        "model.hidden_size=8",
        "model.embedding_dim=8",
    ]

    refused = subprocess.run(
        [*args, "hydra.run.dir=refused"],
        cwd=tmp_path,
        env=cli_env(HYDRA_FULL_ERROR=""),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr
    assert "error: " in refused.stderr and "train.csv:3: cannot decode byte(s) b'\\xe9' as 'utf-8'" in refused.stderr
    assert "data.encoding=latin-1" in refused.stderr

    done = subprocess.run(
        [*args, "data.encoding=latin-1", "hydra.run.dir=run"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test/acc" in done.stdout
    log = (tmp_path / "run" / "debug.log").read_text()  # debug=fast names the job (and its log) debug
    assert "format=auto read 1 file(s) as csv (extension .csv)" in log
    assert "30 training examples, 3 classes: food 10, music 10, sport 10" in log
    stored = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")[CHECKPOINT_KEY]
    assert stored["config"]["data"]["train"] == str(tmp_path.resolve() / "train.csv")  # absolute: eval runs anywhere
    assert stored["config"]["data"]["encoding"] == "latin-1"


@pytest.mark.slow
def test_no_test_file_skips_the_test_with_a_warning(tmp_path, caplog):
    (tmp_path / "train.csv").write_text(rows(30), encoding="utf-8")
    cfg = shrink(
        compose_config(
            [*QUIET, "experiment=text_classifier", "debug=fast", "logger=csv", f"data.train={tmp_path / 'train.csv'}"],
            tmp_path / "run",
        )
    )
    cfg.trainer.enable_progress_bar = False
    assert cfg.test is True and cfg.data.test is None
    with caplog.at_level(logging.WARNING, logger="seqmodels.commands.train"):
        result = train(cfg)
    assert "val/acc" in result["metrics"] and not any(k.startswith("test/") for k in result["metrics"])
    assert any("the test is skipped" in r.message for r in caplog.records)
