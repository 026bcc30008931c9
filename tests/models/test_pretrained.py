"""load_pretrained_embeddings: the found rows of a hand-written vector file land in a model's embedding,
the other rows keep their initial values, the padding row stays zero, freeze keeps the embedding out of
the gradient, and the dimension check names model.embedding_dim and the file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from seqmodels.cells import LSTMCell
from seqmodels.models import RNNClassifier
from seqmodels.models.pretrained import load_pretrained_embeddings

TOKENS = ["<pad>", "<unk>", "the", "Cat", "dog", "zebra"]
FILE = "<pad> 9 9 9\n<unk> 8 8 8\nthe 1 2 3\ncat 4 5 6\ndog 0.5 -0.25 7\nhorse 1 1 1\n"


def classifier(embedding_dim: int = 3) -> RNNClassifier:
    torch.manual_seed(0)
    return RNNClassifier(
        num_classes=2,
        cell=LSTMCell,
        hidden_size=4,
        vocab_size=len(TOKENS),
        embedding_dim=embedding_dim,
        padding_idx=0,
        pooling="mean",
    ).double()


def vectors_file(tmp_path: Path, text: str = FILE) -> Path:
    path = tmp_path / "glove.tiny.3d.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_found_rows_are_copied_the_others_kept_and_the_padding_row_stays_zero(tmp_path: Path, caplog) -> None:
    model = classifier()
    before = model.encoder.weight.detach().clone()
    with caplog.at_level(logging.INFO, logger="seqmodels.models.pretrained"):
        report = load_pretrained_embeddings(model.encoder, TOKENS, vectors_file(tmp_path), specials=["<unk>"])
    weight = model.encoder.weight.detach()
    assert weight.dtype == torch.float64
    assert weight[0].tolist() == [0.0, 0.0, 0.0]  # <pad>: never looked up although the file has it
    assert torch.equal(weight[1], before[1])  # <unk>: a special, kept as initialised
    assert weight[2].tolist() == [1.0, 2.0, 3.0]
    assert weight[3].tolist() == [4.0, 5.0, 6.0]  # Cat through cat
    assert weight[4].tolist() == [0.5, -0.25, 7.0]
    assert torch.equal(weight[5], before[5])  # zebra: not in the file
    assert report.found.tolist() == [False, False, True, True, True, False] and report.skipped == 2
    assert model.encoder.weight.requires_grad
    assert (
        "glove.tiny.3d.txt: 3 of 4 tokens found (75.0 %), 1 through lowercase; 6 rows read; "
        "2 special token(s) not looked up"
    ) in caplog.text


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_keeps_the_embedding_out_of_the_gradient(tmp_path: Path, freeze: bool) -> None:
    model = classifier()
    load_pretrained_embeddings(model.encoder, TOKENS, vectors_file(tmp_path), freeze=freeze)
    tokens = torch.tensor([[2, 3, 4, 0], [5, 2, 0, 0]])
    logits, _ = model(tokens, torch.tensor([3, 2]))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    grad = model.encoder.weight.grad
    if freeze:
        assert grad is None and not model.encoder.weight.requires_grad
    else:
        assert grad is not None and grad[2:].abs().sum() > 0 and not grad[0].any()  # the padding row: no gradient
    others = [p for name, p in model.named_parameters() if not name.startswith("encoder.")]
    assert others and all(p.grad is not None and p.grad.abs().sum() > 0 for p in others)


def test_a_file_of_another_dimension_is_refused_naming_model_embedding_dim(tmp_path: Path) -> None:
    model = classifier(embedding_dim=4)
    before = model.encoder.weight.detach().clone()
    path = vectors_file(tmp_path)
    with pytest.raises(ValueError) as error:
        load_pretrained_embeddings(model.encoder, TOKENS, path)
    assert str(error.value) == f"{path}: the vectors have 3 dimensions but model.embedding_dim is 4"
    assert torch.equal(model.encoder.weight.detach(), before)


def test_a_vocabulary_of_another_size_is_refused(tmp_path: Path) -> None:
    path = vectors_file(tmp_path)
    with pytest.raises(ValueError, match=r"the vocabulary has 5 tokens but the embedding has 6 rows"):
        load_pretrained_embeddings(classifier().encoder, TOKENS[:5], path)


def test_a_file_sharing_no_token_warns(tmp_path: Path, caplog) -> None:
    path = vectors_file(tmp_path, "horse 1 1 1\n")
    model = classifier()
    before = model.encoder.weight.detach().clone()
    with caplog.at_level(logging.WARNING, logger="seqmodels.models.pretrained"):
        report = load_pretrained_embeddings(model.encoder, TOKENS, path)
    assert report.coverage == 0.0 and torch.equal(model.encoder.weight.detach(), before)
    assert "no token of the vocabulary is in the file" in caplog.text
