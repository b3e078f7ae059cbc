"""harness/probes.py: the measured, unshipped approaches stay runnable (docs/support_judge.md,
docs/answerer.md)."""
from __future__ import annotations

import numpy as np

from harness.probes import CrossEncoder, alignment_features, figures, threshold

WINDOW = "Ahead of the launch, Brandvik engineers reworked the heat shield of the rocket."


def test_alignment_sees_a_copied_sentence_with_a_word_replaced_moved_or_denied():
    names = ("aligned", "replaced", "replaced_names", "replaced_numbers", "moved", "moved_names",
             "inserted", "neg_added", "neg_dropped", "near_replaced", "near_replaced_names",
             "near_moved", "near_negation")

    def aligned(claim):
        return dict(zip(names, alignment_features(claim, WINDOW)))

    same = aligned(WINDOW)
    assert same["aligned"] == 1.0 and same["replaced"] == same["moved"] == 0
    swapped = aligned(WINDOW.replace("Brandvik", "Norrsten"))
    assert swapped["replaced_names"] == 1 and swapped["near_replaced_names"] == 1
    moved = aligned("Ahead of the launch, engineers reworked the heat shield of the Brandvik rocket.")
    assert moved["moved_names"] == 1 and moved["replaced"] == 0
    denied = aligned("Ahead of the launch, Brandvik engineers did not rework the heat shield.")
    assert denied["neg_added"] == 1 and denied["near_negation"] == 1
    other = aligned("The rocket's heat shield was redone by Brandvik's engineers before launch.")
    assert other["aligned"] < 0.6 and other["near_replaced_names"] == 0


def test_threshold_and_figures_balance_true_claims_against_hard_negatives():
    rows = [{"kind": k} for k in ("true", "paraphrase", "true", "number", "name", "name",
                                  "unrelated")]
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.75, 0.0])
    # at 0.7 every true claim is kept but a name negative passes (min(1/0.9, 2/3/0.95) = 0.70);
    # from 0.75 one true claim is lost and every negative caught (min(2/3/0.9, 1/0.95) = 0.74):
    # the highest of the equal cuts
    t = threshold(scores, rows)
    assert t == 0.8
    got = figures(rows, scores >= t)
    assert got["true_claims"] == round(2 / 3, 3) and got["hard_caught"] == 1.0
    assert got["true"] == 0.5 and got["paraphrase"] == 1.0 and got["name"] == 1.0


def test_the_cross_encoder_fine_tunes_the_packaged_minilm_and_scores_pairs():
    ce = CrossEncoder(top=1, max_length=48)
    rows = [(WINDOW, WINDOW, True), (WINDOW.replace("Brandvik", "Norrsten"), WINDOW, False),
            ("The tunnel opens in 2031.", "The tunnel is due to open in 2031.", True),
            ("The tunnel opens in 2035.", "The tunnel is due to open in 2031.", False)]
    before = ce.score(rows)
    seconds = ce.fit(rows, epochs=2, lr=5e-4, batch=2)
    after = ce.score(rows)
    assert seconds > 0 and before.shape == after.shape == (4,)
    assert not np.allclose(before, after)  # the top layer and the head were trained
    assert ce.score([]).shape == (0,)
