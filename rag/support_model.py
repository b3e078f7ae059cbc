"""The support judge's model file: one scorer over rag/support_features.py's features and the
threshold learned with it. `make train` writes it (eval/train_support.py);
docs/support_judge.md is its card."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.answer_model import ModelFileError, Scorer, read_model_file, write_model_file
from rag.support_features import SUPPORT_FEATURES

FORMAT_VERSION = 1
SUPPORT_MODEL_PATH = Path(__file__).resolve().parent / "models" / "support.npz"
_HINT = "Rebuild it with `make train` (docs/support_judge.md)."


@dataclass
class SupportModel:
    scorer: Scorer
    settings: dict[str, Any]  # threshold, vetoes
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.settings["threshold"])

    @property
    def vetoes(self) -> frozenset[str]:
        """The rules (rag.support_features.RULES) that refuse a claim whatever the model says."""
        return frozenset(self.settings.get("vetoes", ()))

    def save(self, path: str | Path) -> None:
        write_model_file(path, {"format": FORMAT_VERSION, "settings": self.settings,
                                "card": self.card, "kind": self.scorer.kind,
                                "features": list(self.scorer.features)},
                         dict(self.scorer.arrays))

    @classmethod
    def load(cls, path: str | Path = SUPPORT_MODEL_PATH) -> SupportModel:
        path = Path(path)
        meta, arrays = read_model_file(path, "support judge model", _HINT)
        if meta.get("format") != FORMAT_VERSION:
            raise ModelFileError(f"The support judge model file {path} is of format "
                                 f"{meta.get('format')}, the code reads {FORMAT_VERSION}. {_HINT}")
        if tuple(meta.get("features", ())) != SUPPORT_FEATURES:
            raise ModelFileError(f"The support judge model file {path} was trained on other "
                                 f"features than the code computes. {_HINT}")
        return cls(Scorer(meta["kind"], SUPPORT_FEATURES, arrays), meta["settings"],
                   meta.get("card", {}))


_loaded: dict[Path, SupportModel] = {}


def default_model(path: str | Path = SUPPORT_MODEL_PATH) -> SupportModel:
    """The model file, read once per process."""
    path = Path(path)
    if path not in _loaded:
        _loaded[path] = SupportModel.load(path)
    return _loaded[path]
