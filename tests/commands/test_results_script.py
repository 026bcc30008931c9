"""scripts/results.py: finished runs (result.json + TensorBoard events) -> docs/results.json, curve PNGs
and the generated block of docs/RESULTS.md; real (tiny) training runs, nothing faked."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from seqmodels.commands.train import train
from tests.helpers import REPO_ROOT
from tests.helpers.configs import QUIET, compose_config, shrink

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_script():
    if "results_script" in sys.modules:
        return sys.modules["results_script"]
    spec = importlib.util.spec_from_file_location("results_script", REPO_ROOT / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two tiny adding-problem runs, labelled as the results runs are (logs/results/<label>)."""
    root = tmp_path_factory.mktemp("runs")
    for cell in ("lstm", "rnn"):
        cfg = shrink(
            compose_config(
                [*QUIET, f"experiment=adding_{cell}", "debug=fast", "data.task.seq_len=20"], root / f"adding_{cell}_T20"
            )
        )
        train(cfg)
    return root


@pytest.mark.slow
def test_results_are_read_from_the_runs_and_written_to_the_docs(runs, tmp_path):
    script = load_script()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "RESULTS.md").write_text(
        f"# Results\n\nHand-written notes.\n\n{script.BEGIN}\nold table\n{script.END}\n\nMore notes.\n"
    )
    results = script.collect(runs, docs, score=False)

    written = json.loads((docs / "results.json").read_text())
    assert written == json.loads(json.dumps(results)) and written["generated_by"] == "python scripts/results.py"
    by_label = {r["label"]: r for r in written["runs"]}
    assert sorted(by_label) == ["adding_lstm_T20", "adding_rnn_T20"]
    for label, run in by_label.items():
        record = json.loads((runs / label / "result.json").read_text())
        assert run["command"] == record["command"] and run["wall_time_s"] == record["wall_time_s"]
        assert run["metrics"]["test/mse"] == record["metrics"]["test/mse"] and math.isfinite(run["metrics"]["test/mse"])
        assert (docs / run["figure"]).read_bytes()[:8] == PNG_MAGIC
        assert run["epochs"] == 1 and run["global_step"] == 3 and run["accelerator"] == "CPUAccelerator"
    lstm, rnn = by_label["adding_lstm_T20"]["target"], by_label["adding_rnn_T20"]["target"]
    assert lstm["metric"] == "test/mse" and lstm["achieved"] > 0.01 and lstm["met"] is False  # 3 steps: not learned
    assert rnn["op"] is None and rnn["met"] is None  # the vanilla RNN is reported, not judged
    assert set(lstm) == {"metric", "op", "value", "achieved", "met", "anchor", "first_met"}
    assert lstm["anchor"] == "Hochreiter & Schmidhuber 1997: gated cells learn it"
    assert (docs / "figures" / "results" / "adding_problem.png").read_bytes()[:8] == PNG_MAGIC

    text = (docs / "RESULTS.md").read_text()
    assert text.startswith("# Results\n\nHand-written notes.\n\n") and text.endswith("\n\nMore notes.\n")
    assert "old table" not in text and "### adding_lstm_T20" in text and "figures/results/adding_lstm_T20.png" in text
    assert "| [adding_lstm_T20](#adding_lstm_t20) |" in text  # GitHub's anchor of the heading
    script.collect(runs, docs, score=False)  # again: the block is replaced, not appended
    assert (docs / "RESULTS.md").read_text().count("### adding_lstm_T20") == 1


@pytest.mark.slow
def test_runs_already_in_the_docs_are_kept_unless_redone_or_replaced(runs, tmp_path):
    script = load_script()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "RESULTS.md").write_text(f"# Results\n\n{script.BEGIN}\n{script.END}\n")
    elsewhere = {  # a run summarised on another machine; its logs are not here
        "label": "sst2_bilstm",
        "command": "seqmodels-train experiment=sst2_bilstm",
        "finished_at": "2026-11-20T10:00:00Z",
        "wall_time_s": 134.6,
        "epochs": 7,
        "global_step": 700,
        "hardware": {},
        "accelerator": "CPUAccelerator",
        "metrics": {"test/acc": 0.86},
        "target": {"metric": "test/acc", "op": ">=", "value": 0.5, "achieved": 0.86, "met": True, "anchor": "old"},
        "figure": "figures/results/sst2_bilstm.png",
    }
    stale = {**elsewhere, "label": "adding_lstm_T20", "command": "stale", "target": None}
    (docs / "results.json").write_text(json.dumps({"runs": [stale, elsewhere]}))

    labels = [r["label"] for r in script.collect(runs, docs, score=False)["runs"]]
    assert labels == ["adding_lstm_T20", "adding_rnn_T20", "sst2_bilstm"]  # sorted, the stale one redone
    written = {r["label"]: r for r in json.loads((docs / "results.json").read_text())["runs"]}
    assert written["adding_lstm_T20"]["command"] != "stale"
    kept = written["sst2_bilstm"]
    assert kept["command"] == "seqmodels-train experiment=sst2_bilstm" and kept["wall_time_s"] == 134.6
    # judged again against today's TARGETS entry: 0.86 >= 0.85, with that entry's anchor
    assert kept["target"]["value"] == 0.85 and kept["target"]["met"] is True and kept["target"]["achieved"] == 0.86
    assert kept["target"]["anchor"] == script.target_for("sst2_bilstm").anchor
    assert "### sst2_bilstm" in (docs / "RESULTS.md").read_text()

    script.collect(runs, docs, score=False, keep=False)
    assert [r["label"] for r in json.loads((docs / "results.json").read_text())["runs"]] == [
        "adding_lstm_T20",
        "adding_rnn_T20",
    ]


def test_results_md_without_markers_is_refused(tmp_path):
    script = load_script()
    page = tmp_path / "RESULTS.md"
    page.write_text("# Results\n")
    with pytest.raises(ValueError, match="markers"):
        script.write_markdown(page, "block")
    assert page.read_text() == "# Results\n", "nothing already written is lost"


def test_the_committed_results_agree_with_the_generator():
    """docs/results.json carries each run's target as TARGETS states it, and the generated block of
    docs/RESULTS.md is what the generator writes from docs/results.json: neither is edited apart."""
    script = load_script()
    docs = REPO_ROOT / "docs"
    results = json.loads((docs / "results.json").read_text())
    assert results["runs"], "docs/results.json lists no runs"
    for run in results["runs"]:
        target, written = script.target_for(run["label"]), run["target"]
        if target is None:
            assert written is None, run["label"]
            continue
        stated = {"metric": target.metric, "op": target.op, "value": target.value, "anchor": target.anchor}
        assert {k: written[k] for k in stated} == stated, run["label"]
        assert set(written) == {*stated, "achieved", "met", "first_met"}, run["label"]
    adding = docs / "figures" / "results" / "adding_problem.png"
    curve = docs / "figures" / "results" / "imdb_learning_curve.png"
    drawn = curve if script.learning_curves(results["runs"]) else None  # drawn whenever such runs exist
    block = script.markdown(results["runs"], docs, adding if adding.is_file() else None, drawn)
    page = (docs / "RESULTS.md").read_text()
    assert page.count(script.BEGIN) == 1 and page.count(script.END) == 1
    assert page[page.index(script.BEGIN) : page.index(script.END) + len(script.END)] == block


def test_targets_match_labels_and_judge_in_the_right_direction():
    script = load_script()
    assert script.target_for("ptb_word_lstm_small").met(114.0) is True
    assert script.target_for("ptb_word_lstm_small").met(115.0) is False
    assert script.target_for("sst2_bilstm_phrases").met(0.86) is True
    assert script.target_for("adding_gru_T400").met(0.5) is False
    assert script.target_for("adding_lstm_long_T400").met(0.002) is True  # the tuned experiment, same target
    assert script.target_for("adding_rnn_T400").met(0.5) is None
    assert script.target_for("no_such_run") is None


@pytest.mark.slow
def test_language_models_score_a_sentence_and_its_shuffle(tmp_path):
    cfg = shrink(compose_config([*QUIET, "debug=fast"], tmp_path / "lm"))
    result = train(cfg)
    saved = tmp_path / "scores.json"
    rows = load_script().score_examples(result["best_model_path"], saved)
    assert [r["sentence"] for r in rows] == load_script().SCORE_SENTENCES
    assert all(r["log_prob"] < 0 and r["num_tokens"] > 0 and math.isfinite(r["ppl"]) for r in rows)
    # without the checkpoint (a run trained elsewhere) the scores kept beside result.json stand in
    assert load_script().score_examples(str(tmp_path / "gone.ckpt"), saved) == rows
    assert load_script().score_examples(str(tmp_path / "gone.ckpt"), tmp_path / "none.json") is None


def test_first_reached_is_the_earliest_event_meeting_a_validation_target(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    script = load_script()
    start = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    writer = SummaryWriter(str(tmp_path))
    for step, loss in ((100, 1.60), (200, 1.469), (300, 1.45), (400, 1.46)):  # events hold float32
        writer.add_scalar("val/loss", loss, step, walltime=start + 3 * step)
    writer.close()
    target = script.Target("val/loss", "<=", 1.47, "anchor")
    started_at = "2027-01-15T08:00:00Z"
    assert script.first_reached(tmp_path, target, started_at) == {"step": 200, "after_s": 600.0}
    assert script.first_reached(tmp_path, script.Target("val/loss", "<=", 1.0, "anchor"), started_at) is None
    assert script.first_reached(tmp_path, script.Target("test/loss", "<=", 2.0, "anchor"), started_at) is None


def test_the_learning_curve_plots_the_transfer_runs_by_labelled_examples(tmp_path):
    script = load_script()

    def run(label, accuracy):
        return {"label": label, "metrics": {"test/acc": accuracy}}

    runs = [run("imdb_ulmfit_n250", 0.80), run("imdb_lstm_scratch_n250", 0.55), run("imdb_ulmfit_n2500", 0.87)]
    runs += [run("imdb_ulmfit", 0.9), run("imdb_lstm_scratch_n2500", float("nan"))]  # no N; not finite: left out
    assert script.learning_curves(runs) == {
        "imdb_lstm_scratch": [(250, 0.55)],
        "imdb_ulmfit": [(250, 0.80), (2500, 0.87)],
    }
    out = script.plot_learning_curve(runs, tmp_path / "figures" / "curve.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert script.plot_learning_curve([run("imdb_ulmfit", 0.9)], tmp_path / "none.png") is None
    block = script.markdown([], tmp_path, None, out)
    assert "### Transfer: test accuracy against labelled examples" in block and "(figures/curve.png)" in block
    assert script.target_for("imdb_ulmfit_n250").op is None and script.target_for("imdb_ulmfit").value == 0.92


def test_a_report_only_validation_figure_is_its_best():
    """val/ppl of a language model reported without a target is its lowest value, an accuracy its highest."""
    script = load_script()
    scalars = {"val/ppl": [(500, 310.0), (1000, 162.5), (1001, 198.2)], "val/loss": [(500, 5.7), (1000, 5.1)]}
    record = {"name": "imdb_lm", "metrics": {}}
    summary = script.summarize(Path("imdb_lm_cpu"), scalars, record, Path("nowhere"))
    assert summary["target"]["achieved"] == 162.5 and summary["target"]["met"] is None
    script.TARGETS.insert(0, (r"probe_acc", script.Target("val/acc", None, None, "test")))
    try:
        summary = script.summarize(Path("probe_acc"), {"val/acc": [(1, 0.5), (2, 0.8), (3, 0.7)]}, record)
    finally:
        script.TARGETS.pop(0)
    assert summary["target"]["achieved"] == 0.8
