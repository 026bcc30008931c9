"""A conditional language model's data from hand-written csv/tsv/jsonl files: the rows, the fields and their
values, the batch dicts (boundaries, padding, condition ids), and the refusals that name file:line."""

from __future__ import annotations

import json

import pytest
import torch

from seqmodels.data import CharTokenizer, WordTokenizer
from seqmodels.data.conditional_text import ConditionalCollate
from seqmodels.data.conditions import UnknownConditionError
from seqmodels.data.corpora.conditional_text import ConditionalTextFiles
from seqmodels.data.from_files import ConditionalTextData

CSV = """text,meter,key,tempo
"a b, c",6/8,G,120
d e,3/4,D,90
a d,6/8,D,100.5
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_fields_and_values_from_a_csv(tmp_path):
    corpus = ConditionalTextFiles(
        write(tmp_path, "t.csv", CSV), condition_columns=["meter", "key"], value_columns=["tempo"]
    )
    assert [r.text for r in corpus.rows("train")] == ["a b, c", "d e", "a d"]
    assert corpus.conditions.fields == {"meter": ("3/4", "6/8"), "key": ("D", "G")}
    assert corpus.conditions.value_fields == ("tempo",)
    assert corpus.conditions.defaults == {"meter": "6/8", "key": "D", "tempo": pytest.approx(310.5 / 3)}
    assert corpus.examples("train") == [
        ("a b, c", ((1, 1), (120.0,))),
        ("d e", ((0, 0), (90.0,))),
        ("a d", ((1, 0), (100.5,))),
    ]
    assert corpus.rows("train")[1].where.endswith("t.csv:3")


def test_tsv_without_a_header_and_jsonl(tmp_path):
    tsv = write(tmp_path, "t.tsv", "pos\tgood film\nneg\tbad film\n")
    corpus = ConditionalTextFiles(tsv, text_column=1, condition_columns=[0])
    assert corpus.conditions.fields == {"0": ("neg", "pos")}  # an index column is named by its number
    assert corpus.examples("train") == [("good film", ((1,), ())), ("bad film", ((0,), ()))]
    lines = [{"abc": "X:1 |abc|", "M": "6/8"}, {"abc": "X:2 |cba|", "M": "2/4"}]
    jsonl = write(tmp_path, "t.jsonl", "\n".join(json.dumps(x) for x in lines))
    corpus = ConditionalTextFiles(jsonl, text_column="abc", condition_columns="M")
    assert corpus.examples("train") == [("X:1 |abc|", ((1,), ())), ("X:2 |cba|", ((0,), ()))]


def test_an_unseen_validation_value_is_refused_with_the_known_ones(tmp_path):
    valid = write(tmp_path, "v.csv", "text,meter,key,tempo\nx,6/8,A,1\n")
    corpus = ConditionalTextFiles(
        write(tmp_path, "t.csv", CSV), valid, condition_columns=["meter", "key"], value_columns=["tempo"]
    )
    with pytest.raises(UnknownConditionError, match=r"v\.csv:2: key='A' does not occur.*\['D', 'G'\]"):
        corpus.examples("valid")


def test_refusals_name_the_file_line_and_option(tmp_path):
    bad = write(tmp_path, "t.csv", "text,label,x\nhi,a,1\nho,b,fast\n")
    with pytest.raises(ValueError, match=r"t\.csv:3: value column 'x' must hold a finite number, got 'fast'"):
        ConditionalTextFiles(bad, value_columns=["x"])
    with pytest.raises(ValueError, match=r"t\.csv:1: missing column 'mood'"):
        ConditionalTextFiles(bad, condition_columns=["mood"])
    with pytest.raises(ValueError, match="name the format of this one with data.format"):
        ConditionalTextFiles(write(tmp_path, "t.txt", "x"))
    with pytest.raises(ValueError, match="a column is used twice"):
        ConditionalTextFiles(bad, condition_columns=["label", "label"])
    with pytest.raises(ValueError, match="at least one condition column"):
        ConditionalTextFiles(bad, condition_columns=[])


def test_collate_writes_boundaries_padding_and_conditions():
    collate = ConditionalCollate(pad=0, start=2, end=3, num_fields=2, num_values=1)
    batch = collate(
        [
            (torch.tensor([5, 6, 7]).numpy(), ((1, 0), (0.5,))),
            (torch.tensor([8]).numpy(), ((0, 2), (-1.0,))),
        ]
    )
    assert batch["tokens"].tolist() == [[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]]
    assert batch["lengths"].tolist() == [5, 3]
    assert batch["condition"].tolist() == [[1, 0], [0, 2]] and batch["condition"].dtype == torch.long
    assert batch["condition_values"].tolist() == [[0.5], [-1.0]]
    only_values = ConditionalCollate(0, 2, 3, num_fields=0, num_values=1)([(torch.tensor([4]).numpy(), ((), (2.0,)))])
    assert set(only_values) == {"tokens", "lengths", "condition_values"}


def test_the_data_module_yields_the_batch_dicts(tmp_path):
    data = ConditionalTextData(
        write(tmp_path, "t.csv", CSV),
        valid=write(tmp_path, "v.csv", "text,meter,key,tempo\nb a,3/4,G,80\n"),
        condition_columns=["meter", "key"],
        value_columns=["tempo"],
        tokenizer=CharTokenizer(),
        batch_size=3,
    )
    data.setup("fit")
    assert data.condition_sizes == [2, 2] and data.condition_features == 1 and data.contiguous is False
    vocab = data.encoder.vocab
    assert vocab.itos[:3] == ["<pad>", "<unk>", "<eos>"]
    (batch,) = list(data.val_dataloader())
    eos = vocab.eos_index
    assert batch["tokens"].tolist() == [[eos, *data.encoder.encode("b a"), eos]]
    assert batch["lengths"].tolist() == [5]
    assert batch["condition"].tolist() == [[0, 1]]  # 3/4 is meter 0, G is key 1
    assert batch["condition_values"].tolist() == [[80.0]]
    (train,) = list(data.train_dataloader())
    texts = sorted(data.encoder.decode(row[1 : n - 1].tolist()) for row, n in zip(train["tokens"], train["lengths"]))
    assert texts == ["a b, c", "a d", "d e"]


def test_the_data_module_reads_with_given_conditions_and_words(tmp_path):
    first = ConditionalTextData(write(tmp_path, "t.csv", CSV), condition_columns=["key"], tokenizer=WordTokenizer())
    again = ConditionalTextData(
        write(tmp_path, "u.csv", "text,key\nz,G\n"), condition_columns=["key"], conditions=first.conditions.to_dict()
    )
    assert again.conditions == first.conditions  # ids as in training, though u.csv has only G
    with pytest.raises(ValueError, match=r"have the fields \['key'\].*columns read are \['meter'\]"):
        ConditionalTextData(write(tmp_path, "w.csv", CSV), condition_columns=["meter"], conditions=first.conditions)
    with pytest.raises(ValueError, match="specials must start with <pad> and hold <eos>"):
        ConditionalTextData(write(tmp_path, "x.csv", CSV), condition_columns=["key"], specials=["<pad>", "<unk>"])
