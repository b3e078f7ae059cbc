"""`make train` on a tiny training set of our own: the scorer it writes ranks the answering
sentence first on a week it was not fitted on, the file is the same for the same data and seed,
and a missing or corrupt model file is a clear error naming `make train`."""
from __future__ import annotations

from datetime import date

import pytest

from eval.train_answerer import PoolBM25, build_examples, load_chunks, load_questions, main
from rag.answer_model import AnswerModel, ModelFileError
from rag.answerers.learned import LearnedAnswerer
from rag.settings import Settings
from tests.conftest import FIXTURES

TINY = FIXTURES / "train_tiny"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    args = ["--train", str(TINY), "--cache", str(folder / "cache.npz"), "--model", "logistic",
            "--validation-weeks", "1"]
    assert main(args + ["--out", str(folder / "a.npz")]) == 0
    assert main(args + ["--out", str(folder / "b.npz")]) == 0
    return folder


def test_the_trained_scorer_ranks_the_answering_sentence_first(trained, embedder):
    model = AnswerModel.load(trained / "a.npz")
    questions = load_questions(TINY)
    held_out = [q for q in questions if q["week"] == max(q["week"] for q in questions)]
    chunks = load_chunks(TINY, {d for q in questions for d in q["gcs_doc_ids"]}, Settings())
    bm25 = PoolBM25([c for cs in chunks.values() for c in cs])
    answerer = LearnedAnswerer(embed=embedder.embed_batch, doc_freq=bm25.doc_freq,
                                  total_docs=lambda: bm25.n, model=model)
    for ex in build_examples(held_out, chunks, bm25):
        ranked = answerer.score(ex.question, ex.passages, date(2024, 1, 25))
        assert ex.golds[0] in ranked[0].text, [r.text for r in ranked[:3]]
        assert ranked[0].p > ranked[1].p
    assert model.card["validation"]["questions"] == len(held_out)


def test_the_same_data_and_seed_give_the_same_file(trained):
    assert (trained / "a.npz").read_bytes() == (trained / "b.npz").read_bytes()


def test_a_missing_or_corrupt_model_file_names_make_train(tmp_path):
    with pytest.raises(ModelFileError, match="missing. Rebuild it with `make train`"):
        LearnedAnswerer(model=tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelFileError, match="cannot be read.*make train"):
        LearnedAnswerer(model=bad)


def test_a_model_of_other_features_is_refused(trained, tmp_path):
    model = AnswerModel.load(trained / "a.npz")
    model.first.features = model.first.features[:-1]
    model.save(tmp_path / "old.npz")
    with pytest.raises(ModelFileError, match="other features than the code computes.*make train"):
        AnswerModel.load(tmp_path / "old.npz")


def test_a_missing_training_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["--train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "lacks questions.jsonl, corpus.jsonl.gz" in err and "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()
