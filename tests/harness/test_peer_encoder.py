"""Issue 16's peer: the same article cut into consecutive 256-word-piece chunks, nothing lost,
nothing repeated, none over the model's window."""
from __future__ import annotations

from harness.bench import peer_windows


def test_peer_windows_cover_the_text_in_order_within_the_window(embedder):
    tokenizer = embedder.model.tokenizer
    text = " ".join(f"Paragraph {i}: the council of Orrin Valley voted {i} to {i + 3} on the "
                    f"tunnel, costing {i}.{i} million euros." for i in range(60))
    pieces = peer_windows(text, tokenizer)
    assert len(pieces) > 3
    sizes = embedder.count_tokens(pieces)
    assert max(sizes) <= 256 and sizes[0] == 256  # full windows, [CLS] and [SEP] included
    assert " ".join(pieces).split() == text.split()  # every word once, in order


def test_peer_windows_of_nothing_and_of_a_short_text(embedder):
    tokenizer = embedder.model.tokenizer
    assert peer_windows("", tokenizer) == []
    assert peer_windows("One line.", tokenizer) == ["One line."]
