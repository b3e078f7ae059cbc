"""Vector files: an ingest reuses the vectors a file holds for its exact texts, embeds the rest,
says how many of each, and refuses a file of another embedder before writing anything."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ingest.run import ingest
from rag.errors import ConfigError
from rag.index import Index, embedding_text
from rag.vector_files import VectorFile, VectorFileError, vector_key, write_vector_file
from tests.conftest import DEMO, REPO

TEXT = DEMO / "text"


def _keys(model: str, texts: list[str]) -> np.ndarray:
    return np.array([list(vector_key(model, t)) for t in texts], dtype=np.uint8)


def test_key_is_the_published_formula():
    import hashlib

    assert vector_key("m", "a text") == hashlib.sha256(b"m\na text").digest()


@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_answers_exactly_its_keys(tmp_path, compressed):
    texts = [f"text {i}" for i in range(50)]
    vectors = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    path = tmp_path / "v.npz"
    if compressed:  # made by someone else: read whole, not mapped
        np.savez_compressed(path, keys=_keys("m", texts), vectors=vectors, model=np.array("m"))
    else:
        write_vector_file(path, "m", _keys("m", texts), vectors)
    f = VectorFile(path)
    assert (len(f), f.model, f.dimension) == (50, "m", 8)
    assert isinstance(f._vectors, np.memmap) != compressed
    asked = [vector_key("m", "text 7"), vector_key("m", "nope"), vector_key("m", "text 49"),
             vector_key("other", "text 7")]
    rows = f.rows(asked)
    assert rows.tolist() == [7, -1, 49, -1]
    assert np.array_equal(f.vectors(rows[[0, 2]]), vectors[[7, 49]])


@pytest.mark.parametrize("content, message", [
    (b"not a zip", "cannot be read"),
    ("no-model", "lacks \\['model'\\]"),
    ("bad-keys", "keys must be uint8"),
])
def test_a_malformed_file_is_refused_clearly(tmp_path, content, message):
    path = tmp_path / "v.npz"
    if content == b"not a zip":
        path.write_bytes(content)
    elif content == "no-model":
        np.savez(path, keys=np.zeros((1, 32), np.uint8), vectors=np.zeros((1, 4), np.float32))
    else:
        np.savez(path, keys=np.zeros((1, 16), np.uint8), vectors=np.zeros((1, 4), np.float32),
                 model=np.array("m"))
    with pytest.raises(VectorFileError, match=message):
        VectorFile(path)
    with pytest.raises(VectorFileError, match="No such vector file"):
        VectorFile(tmp_path / "missing.npz")


def _chunk_texts(folder, embedder, paths) -> tuple[list[str], Index]:
    """Ingest `paths` into a first index in `folder`: its chunks' embedding texts, the index."""
    from rag.settings import Settings

    index = Index.open(Settings(data_dir=folder), embedder)
    ingest(index, paths)
    chunks = index.catalog.chunks_by_ids(list(index.catalog.all_chunk_ids())).values()
    return [embedding_text(c) for c in chunks], index


def test_ingest_reuses_the_vectors_a_file_holds_and_embeds_the_rest(make_settings, embedder,
                                                                     tmp_path):
    some = sorted(TEXT.glob("*.txt"))[:3]
    texts, first = _chunk_texts(tmp_path / "first", embedder, some)
    first.close()
    # the file's vectors are marked (negated) so that the test can tell reused from embedded
    real = embedder.embed_batch(texts)
    path = tmp_path / "vectors.npz"
    write_vector_file(path, embedder.name, _keys(embedder.name, texts), -real)

    index = Index.open(make_settings(vector_files=(str(path),)), embedder)
    try:
        report = ingest(index, [TEXT])
        n_all = index.catalog.counts()["chunks"]
        assert report.vectors_reused == len(texts) and report.chunks == n_all
        assert report.vectors_embedded == n_all - len(texts) > 0
        assert report.to_dict()["vectors_reused"] == len(texts)
        chunks = index.catalog.chunks_by_ids(list(index.catalog.all_chunk_ids()))
        stored = index.store.vectors(list(chunks))
        by_text = {t: -v for t, v in zip(texts, real)}
        for cid, c in chunks.items():
            text = embedding_text(c)
            if text in by_text:
                assert np.allclose(stored[cid], by_text[text], atol=1e-6)
            else:  # embedded now: the real vector, positive
                assert np.allclose(stored[cid], embedder.embed_batch([text])[0], atol=1e-4)
    finally:
        index.close()


def test_a_file_of_another_embedder_is_refused_before_anything_is_written(make_settings,
                                                                          embedder, tmp_path):
    path = tmp_path / "other.npz"
    write_vector_file(path, "some-other-model", _keys("some-other-model", ["x"]),
                      np.zeros((1, embedder.dimension), np.float32))
    index = Index.open(make_settings(vector_files=(str(path),)), embedder)
    try:
        with pytest.raises(ConfigError, match="holds 'some-other-model' vectors.*same embedder"):
            ingest(index, [TEXT])
        assert index.catalog.counts()["articles"] == 0
    finally:
        index.close()


def test_cli_ingest_takes_vectors_and_reports_them(tmp_path, embedder):
    """`newsrag ingest --vectors FILE`: a wrong dimension is exit 2 with the reason; a good file's
    reuse is in the summary line and in --json."""
    data = tmp_path / "data"
    bad = tmp_path / "bad.npz"
    write_vector_file(bad, embedder.name, _keys(embedder.name, ["x"]), np.zeros((1, 7), np.float32))
    run = [sys.executable, "-m", "ui.cli", "ingest", str(TEXT), "--data-dir", str(data),
           "--no-progress"]
    out = subprocess.run(run + ["--vectors", str(bad)], cwd=REPO, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 2, out.stderr
    assert "dimension 7" in out.stderr and "Traceback" not in out.stderr
    texts, first = _chunk_texts(tmp_path / "first", embedder, [TEXT])
    first.close()
    good = tmp_path / "good.npz"
    write_vector_file(good, embedder.name, _keys(embedder.name, texts), embedder.embed_batch(texts))
    out = subprocess.run(run + ["--vectors", str(good)], cwd=REPO, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert f"vectors: {len(texts)} reused from vector files, 0 embedded" in out.stdout

