"""The packaged embedder: a question alone gets the vector it gets in a batch."""
from __future__ import annotations

import numpy as np


def test_a_few_texts_embed_as_in_a_batch(embedder):
    texts = ["What did the Alderford council decide last week?", "Port Calder transit strike",
             ("A much longer passage about the reservoir at Lake Tessaline, which fell to a record "
              "low after the driest summer since records began, and the rationing that followed."),
             "x", "Who won?", "The mayor's budget", "Ferry fares", "Stage 3 water restrictions"]
    batch = embedder.embed_batch(texts)  # sentence-transformers' encode()
    one_by_one = np.vstack([embedder.embed_batch([t]) for t in texts])
    three = embedder.embed_batch(texts[:3])  # padded together
    assert batch.dtype == one_by_one.dtype == np.float32 and batch.shape == (8, 384)
    assert np.allclose(np.linalg.norm(one_by_one, axis=1), 1.0, atol=1e-5)
    assert np.abs(batch - one_by_one).max() < 1e-5
    assert np.abs(batch[:3] - three).max() < 1e-5
