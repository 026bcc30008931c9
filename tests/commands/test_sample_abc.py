"""seqmodels-sample on a conditional ABC model (a checkpoint written by hand, its decoder biased so that it writes
quarter notes G): the tune written as .abc (parsed by abc_checks), .mid (read back by pretty_midi) and .wav, numbered
for num_samples > 1; any other model given output_file is refused, naming it."""

from __future__ import annotations

import wave

import pytest
import torch

from seqmodels.cells import LSTMCell, RNNCell
from seqmodels.commands.sample import sample
from seqmodels.data import ABCTokenizer, CharTokenizer, TextEncoder, Vocab
from seqmodels.data.conditions import Conditions
from seqmodels.inference.abc_checks import check_tune
from seqmodels.models import ConditionalLanguageModel, RNNLanguageModel
from tests.helpers.configs import compose_config

SPECIALS = ["<pad>", "<unk>", "<eos>"]
CONDITIONS = Conditions({"M": ["4/4", "6/8"], "L": ["1/8"], "K": ["D", "G"]})
CONDITION = "M:4/4 L:1/8 K:G"
TUNE = "X:{}\nM:4/4\nL:1/8\nK:G\nG2G2G2G2G2G2G2G2\n"  # 8 tokens G2 (quarter notes under L:1/8), written by hand


def save(path, model, encoder, model_cfg, conditions=None):
    extra = {
        "format_version": 1,
        "task": "seqmodels.tasks.language_modeling.LanguageModelingTask",
        "config": {"model": model_cfg},
        "encoder": encoder.to_dict(),
    }
    if conditions is not None:
        extra["conditions"] = conditions.to_dict()
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {}, "seqmodels": extra}, path)
    return path


def conditional_checkpoint(path, tokenizer, words):
    encoder = TextEncoder(tokenizer, Vocab([*SPECIALS, *words], SPECIALS))
    sizes = CONDITIONS.sizes
    model = ConditionalLanguageModel(
        len(encoder.vocab), LSTMCell, sizes, embedding_dim=4, hidden_size=4, condition_dim=2
    )
    with torch.no_grad():
        model.decoder.bias[encoder.vocab.stoi[words[0]]] = 40.0  # always the first word, never <eos>
    model_cfg = {
        "_target_": "seqmodels.models.ConditionalLanguageModel",
        "vocab_size": len(encoder.vocab),
        "cell": {"_target_": "seqmodels.cells.LSTMCell", "_partial_": True},
        "condition_sizes": sizes,
        "embedding_dim": 4,
        "hidden_size": 4,
        "condition_dim": 2,
    }
    return save(path, model, encoder, model_cfg, CONDITIONS)


def run(ckpt, *overrides):
    return sample(
        compose_config(
            [f"ckpt_path={ckpt}", f"condition={CONDITION}", "max_new_tokens=8", *overrides], config_name="sample"
        )
    )


@pytest.mark.slow
def test_tunes_are_written_as_abc_midi_and_audio(tmp_path):
    pretty_midi = pytest.importorskip("pretty_midi")
    pytest.importorskip("music21")
    ckpt = conditional_checkpoint(tmp_path / "folk.ckpt", ABCTokenizer(), ["G2", "A2", "|"])
    written = run(ckpt, f"output_file={tmp_path / 'out' / 'tune.abc'}", "num_samples=2", "seed=0")
    assert written == [str(tmp_path / "out" / "tune_1.abc"), str(tmp_path / "out" / "tune_2.abc")]
    for i, name in enumerate(written, 1):
        text = open(name, encoding="utf-8").read()
        assert text == TUNE.format(i)
        checked = check_tune(text)
        assert checked.parse.ok and checked.parse.notes == 8

    (abc, mid) = map(str, run(ckpt, f"output_file={tmp_path / 'one.mid'}"))
    assert (abc, mid) == (str(tmp_path / "one.abc"), str(tmp_path / "one.mid"))
    assert open(abc, encoding="utf-8").read() == TUNE.format(1)
    notes = sorted(pretty_midi.PrettyMIDI(mid).instruments[0].notes, key=lambda n: n.start)
    assert [n.pitch for n in notes] == [67] * 8  # G4 eight times
    assert [round(n.end - n.start, 3) for n in notes] == [0.5] * 8  # quarter notes at 120 per minute

    files = run(ckpt, f"output_file={tmp_path / 'two.wav'}")
    assert [p.rsplit("/", 1)[1] for p in files] == ["two.abc", "two.mid", "two.wav"]
    with wave.open(files[2]) as audio:
        assert audio.getnframes() >= 4.0 * audio.getframerate()  # the eight half-second notes sound


def test_other_models_are_refused_naming_output_file(tmp_path):
    chars = conditional_checkpoint(tmp_path / "chars.ckpt", CharTokenizer(), ["G", "2"])  # conditional, not ABC
    with pytest.raises(ValueError, match=r"output_file=.*tune\.mid: .* holds a ConditionalLanguageModel"):
        run(chars, f"output_file={tmp_path / 'tune.mid'}")
    encoder = TextEncoder(CharTokenizer(), Vocab([*SPECIALS, "a", "b"], SPECIALS))
    plain = RNNLanguageModel(len(encoder.vocab), RNNCell, embedding_dim=3, hidden_size=3, num_layers=1)
    model_cfg = {
        "_target_": "seqmodels.models.RNNLanguageModel",
        "vocab_size": len(encoder.vocab),
        "cell": {"_target_": "seqmodels.cells.RNNCell", "_partial_": True},
        "embedding_dim": 3,
        "hidden_size": 3,
        "num_layers": 1,
    }
    ckpt = save(tmp_path / "plain.ckpt", plain, encoder, model_cfg)
    cfg = [f"ckpt_path={ckpt}", "max_new_tokens=4", "seed=0"]
    with pytest.raises(ValueError, match=r"output_file=tune\.abc: .* holds a RNNLanguageModel"):
        sample(compose_config([*cfg, "output_file=tune.abc"], config_name="sample"))
    (text,) = sample(compose_config(cfg, config_name="sample"))  # without output_file: text, as before
    assert isinstance(text, str) and not (tmp_path / "tune.abc").exists()
