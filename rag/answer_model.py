"""The answer scorer's model file: two small scorers (first and second stage) and the thresholds
learned with them, read back without scikit-learn and checked against the code's features.

A scorer is either gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier,
exported as arrays) or a logistic regression over standardised features. The file is a plain
`.npz` (no pickle): `make train` writes it (eval/train_answerer.py), docs/answerer.md describes
it.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer_features import FIRST_FEATURES, SECOND_FEATURES
from rag.errors import ConfigError

FORMAT_VERSION = 1
MODEL_PATH = Path(__file__).resolve().parent / "models" / "answerer.npz"


class ModelFileError(ConfigError):
    """The answer model file is missing, corrupt or of other features than the code's."""


@dataclass
class Scorer:
    """One stage's scorer: `predict_proba(X)` -> P(the sentence states what was asked)."""
    kind: str  # "trees" | "logistic"
    features: tuple[str, ...]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(f"expected rows of {len(self.features)} features, got {X.shape}")
        raw = {"trees": self._trees, "logistic": self._logistic, "mlp": self._mlp}[self.kind](X)
        return 1.0 / (1.0 + np.exp(-raw))

    def _mlp(self, X: np.ndarray) -> np.ndarray:
        a = self.arrays
        h = (X - a["mean"]) / a["scale"]
        layers = int(a["layers"])
        for i in range(layers):
            h = h @ a[f"w{i}"] + a[f"b{i}"]
            if i < layers - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0]

    def _logistic(self, X: np.ndarray) -> np.ndarray:
        a = self.arrays
        return ((X - a["mean"]) / a["scale"]) @ a["coef"] + float(a["intercept"])

    def _trees(self, X: np.ndarray) -> np.ndarray:
        a = self.arrays
        feature, threshold, left, right = a["feature"], a["threshold"], a["left"], a["right"]
        leaf, value, missing_left = a["leaf"], a["value"], a["missing_left"]
        rows = np.arange(len(X))
        raw = np.full(len(X), float(a["baseline"]))
        for root in a["roots"]:
            node = np.full(len(X), root)
            for _ in range(int(a["depth"]) + 1):
                live = ~leaf[node]
                if not live.any():
                    break
                x = X[rows, feature[node]]
                go_left = np.where(np.isnan(x), missing_left[node], x <= threshold[node])
                node = np.where(live, np.where(go_left, left[node], right[node]), node)
            raw += value[node]
        return raw

    # ---------------------------------------------------------------- export from scikit-learn
    @classmethod
    def from_sklearn(cls, model: Any, features: tuple[str, ...], scaler: Any = None) -> Scorer:
        """Arrays from a fitted HistGradientBoostingClassifier, or a LogisticRegression with the
        StandardScaler it was fitted behind."""
        if hasattr(model, "_predictors"):
            return cls("trees", features, _tree_arrays(model))
        if scaler is None:
            raise ValueError("a logistic or network scorer needs the scaler it was fitted behind")
        scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
        if hasattr(model, "coefs_"):  # a small network (relu hidden layers, logistic output)
            out = {"mean": scaler.mean_.astype(np.float64), "scale": scale.astype(np.float64),
                   "layers": np.array(len(model.coefs_))}
            for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_)):
                out[f"w{i}"], out[f"b{i}"] = w.astype(np.float64), b.astype(np.float64)
            return cls("mlp", features, out)
        return cls("logistic", features, {
            "mean": scaler.mean_.astype(np.float64), "scale": scale.astype(np.float64),
            "coef": model.coef_[0].astype(np.float64),
            "intercept": np.array(model.intercept_[0], dtype=np.float64)})


def _tree_arrays(model: Any) -> dict[str, np.ndarray]:
    """All trees' nodes in flat arrays (children re-indexed), with each tree's root."""
    parts, roots, offset, depth = [], [], 0, 0
    for (tree,) in model._predictors:
        nodes = tree.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not exported")
        parts.append(nodes)
        roots.append(offset)
        depth = max(depth, int(nodes["depth"].max()))
        offset += len(nodes)
    nodes = np.concatenate(parts)
    starts = np.repeat(roots, [len(p) for p in parts])
    return {
        "feature": nodes["feature_idx"].astype(np.int64),
        "threshold": nodes["num_threshold"].astype(np.float64),
        "left": (nodes["left"].astype(np.int64) + starts),
        "right": (nodes["right"].astype(np.int64) + starts),
        "leaf": nodes["is_leaf"].astype(bool),
        "value": nodes["value"].astype(np.float64),
        "missing_left": nodes["missing_go_to_left"].astype(bool),
        "roots": np.array(roots, dtype=np.int64),
        "depth": np.array(depth, dtype=np.int64),
        "baseline": np.array(float(np.ravel(model._baseline_prediction)[0]), dtype=np.float64),
    }


def write_model_file(path: str | Path, meta: dict[str, Any], arrays: dict[str, Any]) -> None:
    """A model file: `meta` as JSON and each array as a member of an .npz, written member by
    member with a fixed timestamp (the same model, the same bytes), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {"meta": np.array(json.dumps(meta, sort_keys=True))}
    out |= {k: np.asarray(v) for k, v in sorted(arrays.items())}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in out.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)


def read_model_file(path: Path, what: str, hint: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a model file; ModelFileError naming `what` and `hint` otherwise."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except FileNotFoundError:
        raise ModelFileError(f"The {what} file {path} is missing. {hint}") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same error to the user
        raise ModelFileError(f"The {what} file {path} cannot be read ({e}). {hint}") from None
    return meta, arrays


@dataclass
class AnswerModel:
    """The two stages and what was learned with them (thresholds, the number of sentences)."""
    first: Scorer
    second: Scorer
    settings: dict[str, Any]  # abstain_below, add_at_least, max_sentences, ...
    card: dict[str, Any] = field(default_factory=dict)  # data, split, figures (for the card)

    def save(self, path: str | Path) -> None:
        meta = {"format": FORMAT_VERSION, "settings": self.settings, "card": self.card,
                "first": {"kind": self.first.kind, "features": list(self.first.features)},
                "second": {"kind": self.second.kind, "features": list(self.second.features)}}
        write_model_file(path, meta, {f"{stage}.{k}": v
                                      for stage, scorer in (("first", self.first),
                                                            ("second", self.second))
                                      for k, v in scorer.arrays.items()})

    @classmethod
    def load(cls, path: str | Path = MODEL_PATH) -> AnswerModel:
        path = Path(path)
        hint = "Rebuild it with `make train` (docs/answerer.md)."
        meta, arrays = read_model_file(path, "answer model", hint)
        if meta.get("format") != FORMAT_VERSION:
            raise ModelFileError(f"The answer model file {path} is of format "
                                 f"{meta.get('format')}, the code reads {FORMAT_VERSION}. {hint}")
        stages = {}
        for stage, expected in (("first", FIRST_FEATURES), ("second", SECOND_FEATURES)):
            m = meta[stage]
            if tuple(m["features"]) != expected:
                raise ModelFileError(f"The answer model file {path} was trained on other "
                                     f"features than the code computes ({stage} stage). {hint}")
            stages[stage] = Scorer(m["kind"], tuple(m["features"]), {
                k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(stage + ".")})
        return cls(stages["first"], stages["second"], meta["settings"], meta.get("card", {}))
