"""TranslationTask end to end: train(cfg) with debug=fast writes BLEU, perplexity, sample translations and an
attention map; evaluate(cfg) reproduces the test figures from the checkpoint; seqmodels-translate (text
and file modes) gives what decoding in-process gives; named errors."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seqmodels.cells import GRUCell
from seqmodels.checkpoints import load_translator
from seqmodels.commands.evaluate import evaluate
from seqmodels.commands.train import train
from seqmodels.commands.translate import quote_text_override
from seqmodels.inference.decoding import translate
from seqmodels.models import Seq2Seq
from seqmodels.tasks import TranslationTask
from seqmodels.tasks.translation import corpus_bleu, gather_strings
from tests.helpers.configs import QUIET, cli_env, compose_config, missing_data, script, shrink

SENTENCE = "ein Mann fährt Fahrrad ."


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """multi30k_gru_attention, debug=fast, tiny model, once for the module."""
    output_dir = tmp_path_factory.mktemp("multi30k")
    # an untrained model writes until its step limit: a short limit and a narrow beam keep the test quick
    overrides = ["experiment=multi30k_gru_attention", "debug=fast", "task.max_length=12", "task.test_beam_size=3"]
    cfg = shrink(
        compose_config([*QUIET, *overrides], output_dir), **{"data.batch_size": 16, "data.eval_batch_size": 16}
    )
    reason = missing_data(cfg)
    if reason:
        pytest.skip(reason)
    return {"result": train(cfg), "output_dir": output_dir}


@pytest.mark.slow
def test_training_logs_bleu_samples_and_attention(run):
    result = run["result"]
    metrics = result["metrics"]
    for stage in ("val", "test"):
        assert 0.0 <= metrics[f"{stage}/bleu"] <= 100.0
        assert metrics[f"{stage}/ppl"] == pytest.approx(math.exp(metrics[f"{stage}/loss"]), rel=1e-5)
    events = EventAccumulator(result["log_dir"], size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert {"val/bleu", "val/ppl", "val/loss", "test/bleu"} <= set(tags["scalars"])
    assert "val/attention" in tags["images"]
    assert any(t.startswith("val/translations") for t in tags["tensors"])
    text = (
        events.Tensors(next(t for t in tags["tensors"] if t.startswith("val/translations")))[0]
        .tensor_proto.string_val[0]
        .decode()
    )
    assert text.startswith("| source | reference | translation |") and text.count("\n") == 2 + 5 - 1


@pytest.mark.slow
def test_evaluate_reproduces_the_test_figures_from_the_checkpoint(run, tmp_path):
    result = run["result"]
    # the test figures of train(cfg) come from the best checkpoint (here the only epoch's)
    cfg = compose_config(
        [
            f"ckpt_path={result['best_model_path']}",
            "trainer.limit_test_batches=2",
            "trainer.enable_progress_bar=false",
            "+data.eval_batch_size=16",
        ],
        tmp_path,
        config_name="eval",
    )
    metrics = evaluate(cfg)
    assert metrics["test/loss"] == pytest.approx(result["metrics"]["test/loss"], rel=1e-5)
    assert metrics["test/bleu"] == pytest.approx(result["metrics"]["test/bleu"], abs=1e-6)


def run_cli(args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_translate_cli_round_trips_the_checkpoint(run, tmp_path):
    ckpt = run["result"]["last_model_path"]
    model, encoder, config = load_translator(ckpt)
    assert isinstance(model, Seq2Seq) and config["name"] == "multi30k_gru_attention"
    expected = translate(model, encoder, [SENTENCE, "zwei Hunde spielen im Schnee ."], beam_size=3)

    # the documented command line: text="..." with spaces and non-ASCII letters, unquoted for Hydra
    one = run_cli([script("seqmodels-translate"), f"ckpt_path={ckpt}", f"text={SENTENCE}", "beam_size=3"], tmp_path)
    assert one.returncode == 0, one.stderr[-2000:]
    assert one.stdout.splitlines() == expected[:1]

    (tmp_path / "in.de").write_text(f"{SENTENCE}\nzwei Hunde spielen im Schnee .\n", encoding="utf-8")
    out = tmp_path / "out.en"
    two = run_cli(
        [script("seqmodels-translate"), f"ckpt_path={ckpt}", "input_file=in.de", f"output_file={out}", "beam_size=3"],
        tmp_path,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    assert out.read_text(encoding="utf-8").splitlines() == expected and two.stdout == ""
    assert not list(tmp_path.glob("outputs")) and not (tmp_path / ".hydra").exists()  # nothing else written


def test_text_override_is_quoted_for_hydra():
    assert quote_text_override(["ckpt_path=x", f"text={SENTENCE}"]) == ["ckpt_path=x", f"text='{SENTENCE}'"]
    assert quote_text_override(["text=it's a \\ b"]) == ["text='it\\'s a \\\\ b'"]
    assert quote_text_override(['text="already quoted"', "text=[a,b]", "beam_size=3"]) == [
        'text="already quoted"',
        "text=[a,b]",
        "beam_size=3",
    ]


def test_translate_refuses_other_checkpoints_and_bad_calls(tmp_path):
    from seqmodels.commands.translate import translate as translate_command

    cfg = compose_config(["ckpt_path=nope.ckpt", "text=hallo"], config_name="translate")
    with pytest.raises(FileNotFoundError, match="ckpt_path=nope.ckpt: no such file"):
        translate_command(cfg)
    cfg = compose_config(["ckpt_path=nope.ckpt", "text=hallo", "input_file=x.de"], config_name="translate")
    with pytest.raises(ValueError, match="give exactly one of text="):
        translate_command(cfg)
    with pytest.raises(ValueError, match="texts must be a list of strings"):
        translate(Seq2Seq(5, 5, GRUCell), None, "a sentence")


def test_task_checks_its_arguments():
    model = Seq2Seq(5, 6, GRUCell, hidden_size=4)
    with pytest.raises(ValueError, match="bleu_tokenize must be one of sacrebleu's"):
        TranslationTask(model, torch.optim.Adam, bleu_tokenize="moses")
    with pytest.raises(ValueError, match=r"sampling_rate must be a number in \[0, 1\]"):
        TranslationTask(model, torch.optim.Adam, sampling_rate=2)
    with pytest.raises(ValueError, match="encoder must be a TranslationEncoder"):
        TranslationTask(model, torch.optim.Adam, encoder=42)


def test_bleu_is_sacrebleus_corpus_bleu():
    import sacrebleu

    hyps = ["a man rides a bike .", "two dogs play in the snow", "a woman"]
    refs = ["A man is riding a bike.", "Two dogs play in the snow.", "A woman sings."]
    assert corpus_bleu(hyps, refs, lowercase=True) == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs], lowercase=True).score
    )
    assert corpus_bleu(hyps, refs) < corpus_bleu(hyps, refs, lowercase=True)
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert gather_strings(hyps) == hyps  # one process: its own strings
