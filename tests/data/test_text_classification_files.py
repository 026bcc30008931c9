"""TextClassificationFiles: every format on small files written here (hostile ones included: Latin-1, byte-order
marks, CRLF, quotes and line breaks inside CSV fields, blank lines, ragged rows, a label only in test, empty files,
missing columns), format=auto's choices, the classes' order, and the stratified held-out split.

The expected examples are written out by hand next to each file: the reader is never its own oracle.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from seqmodels.data import ClassificationDataModule, TextClassificationFiles, WordTokenizer
from seqmodels.data.classification import held_out
from seqmodels.data.corpora.text_classification import sort_labels


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def texts_and_labels(corpus: TextClassificationFiles, split: str = "train") -> list[tuple[str, str]]:
    return [(text, corpus.label_names[i]) for text, i in corpus.examples(split)]


def raises(match: str, *args, error: type[Exception] = ValueError, **kwargs) -> str:
    with pytest.raises(error) as info:
        TextClassificationFiles(*args, **kwargs)
    message = str(info.value)
    assert re.search(match, message, re.S), message
    return message


# ------------------------------------------------------------------------------ csv
def test_csv_quotes_commas_line_breaks_crlf_bom_and_blank_lines(tmp_path):
    data = (
        "\ufefflabel,text\r\n"
        'pos,"Great, really great"\r\n'
        "\r\n"
        'neg,"She said ""no"".\r\nThen left."\r\n'
        ",\r\n"  # a row of blank fields: skipped like a blank line
        "pos,  plain text  \r\n"
    )
    corpus = TextClassificationFiles(write(tmp_path, "reviews.csv", data))
    assert corpus.label_names == ("neg", "pos")
    assert texts_and_labels(corpus) == [
        ("Great, really great", "pos"),
        ('She said "no".\r\nThen left.', "neg"),
        ("plain text", "pos"),
    ]
    assert [row.line for row in corpus.rows("train")] == [2, 4, 7]  # where each record starts


def test_csv_columns_by_name_in_any_order_and_by_index_without_header(tmp_path):
    named = write(tmp_path, "a.csv", "id,review,stars,sentiment\n1,good film,5,up\n2,bad film,1,down\n")
    corpus = TextClassificationFiles(named, text_column="review", label_column="sentiment")
    assert texts_and_labels(corpus) == [("good film", "up"), ("bad film", "down")]
    plain = write(tmp_path, "b.csv", "up,good film\ndown,bad film\nup,fine\n")
    corpus = TextClassificationFiles(plain, text_column=1, label_column=0)
    assert texts_and_labels(corpus) == [("good film", "up"), ("bad film", "down"), ("fine", "up")]
    last = TextClassificationFiles(plain, text_column=-1, label_column=0)
    assert texts_and_labels(last) == texts_and_labels(corpus)


def test_header_auto_with_index_columns(tmp_path):
    numeric = write(tmp_path, "n.csv", "label,text\n1,good\n0,bad\n1,fine\n")  # 'label' is no number
    assert texts_and_labels(TextClassificationFiles(numeric, text_column=1, label_column=0)) == [
        ("good", "1"),
        ("bad", "0"),
        ("fine", "1"),
    ]
    words = write(tmp_path, "w.csv", "sentiment,review\npos,good\nneg,bad\npos,fine\nneg,poor\n")  # once vs twice
    assert TextClassificationFiles(words, text_column=1, label_column=0).label_names == ("neg", "pos")
    data = write(tmp_path, "d.csv", "pos,good\nneg,bad\npos,fine\n")  # 'pos' occurs again: data, not a header
    assert len(TextClassificationFiles(data, text_column=1, label_column=0).examples("train")) == 3
    forced = TextClassificationFiles(data, text_column=1, label_column=0, header=True)
    assert texts_and_labels(forced) == [("bad", "neg"), ("fine", "pos")]
    raises(r"header=false but a column is given by name", data, header=False)


def test_csv_refusals_name_the_file_and_line(tmp_path):
    raises(
        r"ragged\.csv:3: ragged CSV row: 3 field\(s\), expected 2 as in the header \(quote fields that hold a comma",
        write(tmp_path, "ragged.csv", "label,text\npos,fine\nneg,bad, really bad\n"),
    )
    raises(
        r"nocol\.csv:1: missing column 'text' \(text_column\): the header is \['label', 'review'\].*"
        r"data\.text_column=.*data\.label_column=0 data\.text_column=1",
        write(tmp_path, "nocol.csv", "label,review\npos,fine\n"),
    )
    raises(
        r"index\.csv:1: missing column: text_column is 5 but the row has 2 field\(s\)",
        write(tmp_path, "index.csv", "pos,fine\nneg,bad\n"),
        text_column=5,
        label_column=0,
    )
    raises(r"emptytext\.csv:3: empty text", write(tmp_path, "emptytext.csv", "label,text\npos,fine\nneg,   \n"))
    raises(r"emptylabel\.csv:2: empty label", write(tmp_path, "emptylabel.csv", "label,text\n ,fine\n"))
    raises(
        r"quote\.csv:3: malformed CSV .*must be quoted",
        write(tmp_path, "quote.csv", 'label,text\npos,fine\nneg,"never closed\n'),
    )
    raises(r"header\.csv: no rows after the header", write(tmp_path, "header.csv", "label,text\n\n"))
    raises(
        r"twice\.csv:1: the header names column 'text' \(text_column\) 2 times",
        write(tmp_path, "twice.csv", "text,label,text\na,b,c\n"),
    )


# ------------------------------------------------------------------------------ tsv
def test_tsv_quotes_are_ordinary_characters(tmp_path):
    data = 'id\ttext\tlabel\n1\t"The Matrix" is great\tpos\n2\tan "unbalanced quote\tneg\n'
    corpus = TextClassificationFiles(write(tmp_path, "r.tsv", data))
    assert texts_and_labels(corpus) == [('"The Matrix" is great', "pos"), ('an "unbalanced quote', "neg")]
    raises(
        r"t\.tsv:2: ragged TSV row: 4 field\(s\), expected 2 .*a tsv field cannot hold a tab",
        write(tmp_path, "t.tsv", "text\tlabel\na\tb\tc\td\n"),
    )


def test_gzip_files_are_read_and_named_by_their_inner_extension(tmp_path):
    path = tmp_path / "train.tsv.gz"
    path.write_bytes(gzip.compress(b"text\tlabel\nfine\tpos\nbad\tneg\n"))
    corpus = TextClassificationFiles(path)
    assert corpus.paths["train"] == [(path, "tsv")]
    assert texts_and_labels(corpus) == [("fine", "pos"), ("bad", "neg")]


# ------------------------------------------------------------------------------ JSON
def test_json_lines_objects_arrays_and_a_json_array(tmp_path):
    lines = write(tmp_path, "a.jsonl", '{"text": "good", "label": 1}\n\n{"label": 0, "text": "bad", "x": [1]}\n')
    assert texts_and_labels(TextClassificationFiles(lines)) == [("good", "1"), ("bad", "0")]
    arrays = write(tmp_path, "b.jsonl", '[1, "good"]\n[0, "bad"]\n')
    assert texts_and_labels(TextClassificationFiles(arrays, text_column=1, label_column=0)) == [
        ("good", "1"),
        ("bad", "0"),
    ]
    array = write(tmp_path, "c.json", '[\n  {"text": "good", "label": true},\n  {"text": "bad",\n "label": false}\n]')
    corpus = TextClassificationFiles(array)
    assert texts_and_labels(corpus) == [("good", "true"), ("bad", "false")]
    assert [row.line for row in corpus.rows("train")] == [2, 3]


def test_json_refusals_name_the_file_and_line(tmp_path):
    raises(r"bad\.jsonl:2: not valid JSON", write(tmp_path, "bad.jsonl", '{"text": "a", "label": 1}\n{"text": \n'))
    raises(
        r"key\.jsonl:2: missing column 'label' \(label_column\): the object's keys are \['text', 'y'\]",
        write(tmp_path, "key.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "y": 0}\n'),
    )
    raises(
        r"null\.jsonl:1: a label must be a string or a number, got null",
        write(tmp_path, "null.jsonl", '{"text": "a", "label": null}\n'),
    )
    raises(
        r"list\.jsonl:1: the text must be a string, got \[",
        write(tmp_path, "list.jsonl", '{"text": ["a"], "label": 1}\n'),
    )
    raises(r"kind\.jsonl:1: expected an object \(columns by name\)", write(tmp_path, "kind.jsonl", '[1, "a"]\n'))
    raises(r"open\.json:\d+: the JSON array is not closed", write(tmp_path, "open.json", '[{"text": "a", "label": 1}'))


# ------------------------------------------------------------------------------ LABEL text, fastText
def test_label_first_lines_with_spaces_tabs_crlf_and_blank_lines(tmp_path):
    data = "1 a fine film\r\n\r\n0\tdull ,  slow\r\n   \n10  the best\n"
    corpus = TextClassificationFiles(write(tmp_path, "stsa.binary.train", data))
    assert corpus.paths["train"][0][1] == "label_first"
    assert corpus.label_names == ("0", "1", "10")
    assert texts_and_labels(corpus) == [("a fine film", "1"), ("dull ,  slow", "0"), ("the best", "10")]
    raises(
        r"only\.txt:2: expected 'LABEL text', got only 'lonely' \(no text after the label\)",
        write(tmp_path, "only.txt", "1 fine\nlonely\n"),
        format="label_first",
    )


def test_fasttext_lines_and_the_one_label_rule(tmp_path):
    data = "__label__pos great film\n__label__neg\tawful\n"
    corpus = TextClassificationFiles(write(tmp_path, "ft.txt", data))
    assert corpus.paths["train"][0][1] == "fasttext"
    assert texts_and_labels(corpus) == [("great film", "pos"), ("awful", "neg")]
    raises(
        r"multi\.txt:2: several labels \['a', 'b'\] on one line; this is single-label classification",
        write(tmp_path, "multi.txt", "__label__a x\n__label__a __label__b y\n"),
    )
    raises(
        r"nolabel\.txt:2: expected '__label__LABEL text'",
        write(tmp_path, "nolabel.txt", "__label__a x\nplain line\n"),
        format="fasttext",
    )


# ------------------------------------------------------------------------------ one folder per class
def test_folder_per_class_with_nested_and_hidden_files(tmp_path, caplog):
    root = tmp_path / "train"
    write(root, "pos/1.txt", "good\n")
    write(root, "pos/more/2.txt", "very good")
    write(root, "pos/.hidden.txt", "never read")
    write(root, "neg/3.txt", "\ufeffbad\r\n")
    write(root, "unsup/4.txt", "unlabelled")
    write(root, "urls.txt", "a file beside the class folders is not read")
    with caplog.at_level(logging.INFO, logger="seqmodels.data.corpora.text_classification"):
        corpus = TextClassificationFiles(root)
    assert corpus.paths["train"] == [(root, "folder")]
    assert any(
        "read 1 folder(s) as folder (a folder with sub-folders: one per class)" in r.message for r in caplog.records
    )
    assert corpus.label_names == ("neg", "pos", "unsup")
    chosen = TextClassificationFiles(root, labels=["neg", "pos"])  # aclImdb's train/unsup left out
    assert texts_and_labels(chosen) == [("bad", "neg"), ("good", "pos"), ("very good", "pos")]
    raises(r"format=folder needs a folder with one sub-folder per class", root / "urls.txt", format="folder")
    write(tmp_path, "empty/pos/a.txt", "x")
    (tmp_path / "empty" / "neg").mkdir()
    raises(r"empty/neg: the class folder holds no files", tmp_path / "empty")
    test = tmp_path / "test"
    write(test, "pos/5.txt", "fine")
    write(test, "meh/6.txt", "so so")
    split = TextClassificationFiles(root, test=test, labels=["neg", "pos"])
    with pytest.raises(ValueError, match=r"test/meh/6\.txt:1: label 'meh' does not occur in the training files"):
        TextClassificationFiles(root, test=test).examples("test")
    assert split.examples("test") == [("fine", 1)]  # sub-folders not listed in labels are left out


# ------------------------------------------------------------------------------ format=auto
def test_auto_picks_by_extension_then_first_line_and_logs_it(tmp_path, caplog):
    cases = {
        "a.csv": ("label,text\npos,x\nneg,y\n", "csv", "extension .csv"),
        "a.tab": ("text\tlabel\nx\tpos\ny\tneg\n", "tsv", "extension .tab"),
        "a.ndjson": ('{"text": "x", "label": "pos"}\n{"text": "y", "label": "neg"}\n', "jsonl", "extension .ndjson"),
        "b.txt": ("text\tlabel\nx\tpos\ny\tneg\n", "tsv", "tab-separated header"),
        "c.dat": ('"label","text"\npos,x\nneg,y\n', "csv", "comma-separated header"),
        "d.txt": ('{"text": "x", "label": "pos"}\n{"text": "y", "label": "neg"}\n', "jsonl", "the first line is JSON"),
        "e": ("\n__label__pos x\n__label__neg y\n", "fasttext", "starts with __label__"),
        "f.txt": ("pos x\nneg y\n", "label_first", "lines read as 'LABEL text'"),
    }
    for name, (data, fmt, why) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="seqmodels.data.corpora.text_classification"):
            corpus = TextClassificationFiles(write(tmp_path, name, data))
        assert corpus.paths["train"][0][1] == fmt, name
        assert texts_and_labels(corpus) == [("x", "pos"), ("y", "neg")], name
        assert any(f"read 1 file(s) as {fmt} (" in r.message and why in r.message for r in caplog.records), name
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="seqmodels.data.corpora.text_classification"):
        TextClassificationFiles(write(tmp_path, "g.csv", "label,text\npos,x\nneg,y\n"), format="csv")
    assert not any("format=auto" in r.message for r in caplog.records)  # an explicit format is not announced


# ------------------------------------------------------------------------------ files, lists, globs, folders
def test_a_list_a_glob_and_a_folder_of_files(tmp_path):
    write(tmp_path, "parts/b.csv", "label,text\nneg,two\n")
    write(tmp_path, "parts/a.csv", "label,text\npos,one\n")
    write(tmp_path, "parts/.hidden.csv", "label,text\npos,hidden\n")
    listed = TextClassificationFiles([tmp_path / "parts/b.csv", str(tmp_path / "parts/a.csv")])
    assert texts_and_labels(listed) == [("two", "neg"), ("one", "pos")]  # in the order given
    globbed = TextClassificationFiles(str(tmp_path / "parts" / "*.csv"))
    assert texts_and_labels(globbed) == [("one", "pos"), ("two", "neg")]  # sorted by name
    folder = TextClassificationFiles(tmp_path / "parts")
    assert texts_and_labels(folder) == [("one", "pos"), ("two", "neg")]
    raises(r"train: file .*nowhere\.csv not found", tmp_path / "nowhere.csv", error=FileNotFoundError)
    raises(r"train: no file matches '.*\*\.tsv'", str(tmp_path / "parts" / "*.tsv"), error=FileNotFoundError)
    raises(r"train: no training file given", None)
    assert TextClassificationFiles(tmp_path / "parts", valid=[], test="").splits == ("train",)


# ------------------------------------------------------------------------------ encodings
def test_latin1_needs_its_encoding_and_the_error_names_line_and_option(tmp_path):
    path = write(tmp_path, "latin.csv", "label,text\npos,fine\nneg,caf\xe9 au lait\n".encode("latin-1"))
    message = raises(r"latin\.csv:3: cannot decode byte\(s\) b'\\xe9' as 'utf-8'", path)
    assert "data.encoding=latin-1" in message
    corpus = TextClassificationFiles(path, encoding="latin-1")
    assert texts_and_labels(corpus)[1] == ("café au lait", "neg")
    raises(r"encoding 'klingon' is not a known text encoding", path, encoding="klingon")


def test_utf16_with_its_byte_order_mark(tmp_path):
    path = write(tmp_path, "wide.tsv", "text\tlabel\r\nna\u00efve\tpos\r\nbad\tneg\r\n".encode("utf-16"))
    assert texts_and_labels(TextClassificationFiles(path, encoding="utf-16")) == [("na\u00efve", "pos"), ("bad", "neg")]


def test_empty_and_blank_files_are_refused(tmp_path):
    raises(r"empty\.csv: the file is empty", write(tmp_path, "empty.csv", b""))
    raises(r"blank\.txt: the file holds only whitespace", write(tmp_path, "blank.txt", "\ufeff \n\r\n"))
    good = write(tmp_path, "good.csv", "label,text\npos,x\nneg,y\n")
    with pytest.raises(ValueError, match=r"test\.csv: the file is empty"):
        TextClassificationFiles(good, test=write(tmp_path, "test.csv", b"")).examples("test")


# ------------------------------------------------------------------------------ classes
def test_classes_sorted_numerically_when_numbers_else_as_strings():
    assert sort_labels(["10", "2", "-1", "2", "0.5"]) == ["-1", "0.5", "2", "10"]
    assert sort_labels(["b", "10", "2"]) == ["10", "2", "b"]
    assert sort_labels(["nan", "1"]) == ["1", "nan"]  # 'nan' is not written as a number


def test_a_label_only_in_test_is_refused_unless_labels_lists_it(tmp_path):
    train = write(tmp_path, "train.txt", "1 good\n0 bad\n")
    test = write(tmp_path, "test.txt", "1 fine\n2 neutral\n")
    corpus = TextClassificationFiles(train, test=test)
    with pytest.raises(ValueError) as info:
        corpus.examples("test")
    assert re.search(
        r"test\.txt:2: label '2' does not occur in the training files \(classes: \['0', '1'\]\); "
        r"to keep it, list every class: data\.labels=\[0,1,2\]",
        str(info.value),
    )
    listed = TextClassificationFiles(train, test=test, labels=[0, 1, 2])
    assert listed.label_names == ("0", "1", "2") and listed.examples("test") == [("fine", 1), ("neutral", 2)]
    ordered = TextClassificationFiles(train, labels=["1", "0"])
    assert ordered.examples("train") == [("good", 0), ("bad", 1)]  # the given order is the index order
    raises(r"train\.txt:2: label '0' is not one of labels=\['1', '7'\]", train, labels=["1", "7"])
    raises(r"labels lists \['1'\] more than once", train, labels=["1", "0", "1"])
    raises(r"the training files have 1 class\(es\) \['1'\]", write(tmp_path, "one.txt", "1 a\n1 b\n"))


def test_options_are_checked(tmp_path):
    path = write(tmp_path, "a.csv", "label,text\npos,x\nneg,y\n")
    raises(
        r"format must be one of \['auto', 'csv', 'tsv', 'jsonl', 'label_first', 'fasttext', 'folder'\], got 'xml'",
        path,
        format="xml",
    )
    raises(r"text_column must be a column name or a 0-based index, got 1\.5", path, text_column=1.5)
    raises(r"text_column and label_column are the same column \('label'\)", path, text_column="label")
    raises(r"header must be auto, true or false, got 'maybe'", path, header="maybe")


def test_fingerprint_follows_the_content_and_the_options(tmp_path):
    path = write(tmp_path, "a.csv", "label,text\npos,x\nneg,y\n")
    first = TextClassificationFiles(path).fingerprint()
    assert TextClassificationFiles(path).fingerprint() == first
    assert TextClassificationFiles(path, encoding="latin-1").fingerprint() != first
    write(tmp_path, "a.csv", "label,text\npos,x\nneg,z\n")
    assert TextClassificationFiles(path).fingerprint() != first
    root = tmp_path / "f"
    write(root, "neg/a.txt", "dull")
    write(root, "pos/b.txt", "moved")
    write(root, "pos/c.txt", "fine")
    before = TextClassificationFiles(root).fingerprint()
    (root / "pos/b.txt").rename(root / "neg/b.txt")  # the same files in the same order, one in another class
    assert TextClassificationFiles(root).fingerprint() != before


# ------------------------------------------------------------------------------ the stratified held-out split
def stratified(labels: list[int], fraction: float, seed: int) -> set[int]:
    return held_out(labels, fraction, seed, stratify=True)


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = [0] * 30 + [1] * 6 + [2] * 2 + [3] * 2  # 40 examples, two classes of two
    held = stratified(labels, 0.1, seed=0)
    assert Counter(labels[i] for i in held) == {0: 3, 1: 1, 2: 1, 3: 1}  # a share of each, at least one each
    rest = set(range(len(labels))) - held
    assert {labels[i] for i in rest} == {0, 1, 2, 3}
    assert stratified(labels, 0.1, seed=0) == held  # seeded
    assert any(stratified(labels, 0.1, seed=s) != held for s in range(1, 6))
    big = [0] * 600 + [1] * 300 + [2] * 100
    assert Counter(big[i] for i in stratified(big, 0.2, seed=1)) == {0: 120, 1: 60, 2: 20}


def test_stratified_split_leaves_a_single_example_in_train():
    held = stratified([0, 0, 0, 0, 1], 0.5, seed=0)
    assert 4 not in held and len(held) == 2


def test_datamodule_split_is_disjoint_complete_and_stratified(tmp_path):
    rows = [(f"pos{i} text", "pos") for i in range(17)] + [(f"neg{i} text", "neg") for i in range(3)]
    path = write(tmp_path, "train.csv", "label,text\n" + "".join(f"{y},{x}\n" for x, y in rows))
    corpus = TextClassificationFiles(path)
    dm = ClassificationDataModule(corpus, WordTokenizer(), val_fraction=0.1, stratify=True, seed=5)
    splits = dm._splits()
    train, valid = splits["train"], splits["valid"]
    assert sorted(train + valid) == sorted(corpus.examples("train"))  # complete and disjoint: texts are unique
    assert not {x for x, _ in train} & {x for x, _ in valid}
    assert {y for _, y in valid} == {0, 1} and {y for _, y in train} == {0, 1}


def test_lines_ended_by_a_lone_carriage_return_are_lines_too(tmp_path):
    """Old Mac line ends (``\\r`` alone), mixed with ``\\r\\n`` and ``\\n``: each ends a line, errors count them."""
    corpus = TextClassificationFiles(write(tmp_path, "mac.txt", "1 a fine film\r0 dull\r\n1 the best\n0 bad\r"))
    assert texts_and_labels(corpus) == [("a fine film", "1"), ("dull", "0"), ("the best", "1"), ("bad", "0")]
    raises(r"cr\.txt:3: expected 'LABEL text', got only 'lonely'", write(tmp_path, "cr.txt", "1 a\r0 b\rlonely\r"))


def test_a_folder_format_asked_for_is_not_logged_as_an_auto_choice(tmp_path, caplog):
    write(tmp_path / "train", "pos/1.txt", "good")
    write(tmp_path / "train", "neg/2.txt", "bad")
    with caplog.at_level(logging.INFO, logger="seqmodels.data.corpora.text_classification"):
        corpus = TextClassificationFiles(tmp_path / "train", format="folder")
    assert corpus.paths["train"] == [(tmp_path / "train", "folder")]
    assert not [r.message for r in caplog.records if "format=auto" in r.message]


def test_repr_names_the_first_three_files_per_split_and_the_first_ten_classes(tmp_path):
    files = [write(tmp_path, f"{i}.tsv", "text\tlabel\n" + "".join(f"t\t{c}\n" for c in range(12))) for i in range(4)]
    corpus = TextClassificationFiles(files, format="tsv")
    shown = [str(p) for p in files[:3]]
    classes = [str(c) for c in range(10)]
    assert repr(corpus) == f"TextClassificationFiles({{'train': {shown}}}, format='tsv', classes={classes})"


def test_negative_column_indices_and_the_column_refusals_in_full(tmp_path):
    """Indices count from the end down to minus the width, as Python's do; the refusals, written out whole."""
    path = write(tmp_path, "n.csv", "pos,good film\nneg,bad film\n")
    corpus = TextClassificationFiles(path, text_column=-1, label_column=-2, header=False)
    assert texts_and_labels(corpus) == [("good film", "pos"), ("bad film", "neg")]

    def refused(message: str, *args, **kwargs) -> None:
        raises(f"^{re.escape(message)}$", *args, **kwargs)

    refused(f"{path}: text_column and label_column name the same column (0, -2)", path, text_column=0, label_column=-2)
    refused(
        f"{path}:1: missing column: label_column is -3 but the row has 2 field(s) ['pos', 'good film'] "
        "(columns count from 0)",
        path,
        text_column=1,
        label_column=-3,
    )
    named = write(tmp_path, "h.csv", "label,text\npos,good\nneg,bad\n")
    refused(
        f"{named}:1: missing column: text_column is 2 but the header has 2 field(s) ['label', 'text'] "
        "(columns count from 0)",
        named,
        text_column=2,
        label_column=0,
        header=True,
    )
    wide = write(tmp_path, "w.csv", ",".join(f"c{i}" for i in range(12)) + ",text\n" + "x," * 12 + "y\n")
    refused(
        f"{wide}:1: missing column 'label' (label_column): the header is {[f'c{i}' for i in range(12)]}. Name the "
        "columns with data.text_column=... data.label_column=... (header names, or 0-based indices for a file "
        "without a header, e.g. data.label_column=0 data.text_column=1)",
        wide,
    )


def test_the_log_counts_each_class_and_a_compressed_file_is_picked_by_its_inner_extension(tmp_path, caplog):
    rows = "".join(f"text {c}\t{c}\n" for c in range(21)) + "more\t3\n"
    path = tmp_path / "many.tsv.gz"
    path.write_bytes(gzip.compress(("text\tlabel\n" + rows).encode()))
    with caplog.at_level(logging.INFO, logger="seqmodels.data.corpora.text_classification"):
        TextClassificationFiles(path)
    messages = [r.getMessage() for r in caplog.records]
    assert "text_classification train: format=auto read 1 file(s) as tsv (extension .tsv)" in messages
    counts = ", ".join(f"{c} {2 if c == 3 else 1}" for c in range(20))
    assert f"text_classification: 22 training examples, 21 classes: {counts} ..." in messages
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="seqmodels.data.corpora.text_classification"):
        TextClassificationFiles(write(tmp_path, "two.tsv", "text\tlabel\na\tx\nb\ty\nc\ty\n"))
    assert "text_classification: 3 training examples, 2 classes: x 1, y 2" in [r.getMessage() for r in caplog.records]


def test_a_split_without_rows_is_refused_naming_its_files(tmp_path):
    """A test folder whose only class is not among ``labels``: every file is left out, none is left."""
    write(tmp_path / "train", "pos/1.txt", "good")
    write(tmp_path / "train", "neg/2.txt", "bad")
    test = tmp_path / "test"
    write(test, "meh/3.txt", "so so")
    corpus = TextClassificationFiles(tmp_path / "train", test=test, labels=["neg", "pos"])
    with pytest.raises(ValueError, match=f"^{re.escape(f'text_classification test: no examples in {[str(test)]}')}$"):
        corpus.examples("test")


def test_header_auto_logs_why_it_took_the_first_row_for_a_header(tmp_path, caplog):
    numeric = write(tmp_path, "n.csv", "label,text\n1,good\n0,bad\n")
    with caplog.at_level(logging.INFO, logger="seqmodels.data.corpora.labeled_text"):
        TextClassificationFiles(numeric, text_column=1, label_column=0)
    expected = f"{numeric}: header=auto: the first row is read as a header (its label 'label' is not a class)"
    assert expected in [r.getMessage() for r in caplog.records]
