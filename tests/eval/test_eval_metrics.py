"""Retrieval and answer metrics on hand-made cases; every expected value is worked out by hand."""
import math

import pytest

from eval import metrics as M


def test_ranking_one_miss_then_two_hits():
    # ranks:  1 miss, 2 hits gold a, 3 miss, 4 hits gold b; three gold units (c never found)
    covers = [set(), {"a"}, set(), {"b"}, set()]
    m = M.ranking_metrics(covers, n_gold=3)
    assert m["recall@1"] == 0.0
    assert m["recall@5"] == pytest.approx(2 / 3)  # a and b of {a, b, c}
    assert m["recall@10"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx(1 / 2)  # first hit at rank 2
    # AP: precision at the hit ranks, 1/2 at rank 2 and 2/4 at rank 4, over min(3, 10) = 3
    assert m["map@10"] == pytest.approx((1 / 2 + 2 / 4) / 3)  # = 0.3333
    # DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068; IDCG = 1 + 1/log2(3) + 1/log2(4)
    assert m["ndcg@10"] == pytest.approx((0.63093 + 0.43068) / (1 + 0.63093 + 0.5), abs=1e-4)


def test_a_second_passage_of_the_same_gold_is_not_a_new_hit():
    # ranks 1 and 2 both hold gold a, rank 3 holds b; two gold units
    covers = [{"a"}, {"a"}, {"b"}]
    assert M.novel_hits(covers) == [True, False, True]
    assert M.recall_at(covers, 2, 1) == 0.5
    assert M.recall_at(covers, 2, 3) == 1.0
    assert M.mrr_at(covers) == 1.0
    # AP = (1/1 + 2/3) / 2 = 0.8333
    assert M.average_precision_at(covers, 2) == pytest.approx((1 + 2 / 3) / 2)
    # DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.63093
    assert M.ndcg_at(covers, 2) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_hits_past_k_do_not_count_and_no_gold_scores_zero():
    covers = [set()] * 10 + [{"a"}]
    m = M.ranking_metrics(covers, 1)
    assert m == {"recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0, "mrr@10": 0.0,
                 "map@10": 0.0, "ndcg@10": 0.0}
    assert M.ranking_metrics([{"a"}], 0)["recall@10"] == 0.0


def test_perfect_ranking_scores_one():
    m = M.ranking_metrics([{"a"}, {"b"}], 2)
    assert m.pop("recall@1") == 0.5  # one of two gold units fits in the top 1
    assert all(v == pytest.approx(1.0) for v in m.values())


def test_map_and_ndcg_are_cut_at_ten_gold_units():
    # 12 gold units, all found in the top 10 positions (one each): AP and nDCG are 1, recall 10/12
    covers = [{str(i)} for i in range(12)]
    m = M.ranking_metrics(covers, 12)
    assert m["map@10"] == pytest.approx(1.0)
    assert m["ndcg@10"] == pytest.approx(1.0)
    assert m["recall@10"] == pytest.approx(10 / 12)


def test_document_ranking_is_first_occurrence():
    assert M.first_occurrences(["x", "y", "x", "z", "y"]) == ["x", "y", "z"]


def test_squad_normalisation():
    assert M.normalize_answer("The “Squid Game”!") == "squid game"
    assert M.normalize_answer("  An   apple, a day ") == "apple day"


def test_exact_match_contains_and_f1():
    golds = ["“Squid Game”"]
    assert M.exact_match("the Squid Game.", golds) == 1.0
    assert M.exact_match("Squid Game season 2", golds) == 0.0
    assert M.contains_answer("Netflix renewed Squid Game for season 2.", golds) == 1.0
    assert M.contains_answer("Squid Games is back", golds) == 0.0  # whole tokens only
    # pred [squid game season 2], gold [squid game]: P = 2/4, R = 2/2, F1 = 2PR/(P+R) = 2/3
    assert M.token_f1("Squid Game season 2", golds) == pytest.approx(2 / 3)
    # the best gold wins: vs "season 2" P = 2/4, R = 1 -> 2/3 too; vs "Squid Game season 2" 1.0
    assert M.token_f1("Squid Game season 2", ["x", "Squid Game season 2"]) == 1.0
    assert M.token_f1("nothing alike", golds) == 0.0


def test_abstention_rate():
    assert M.abstention_rate([True, False, False, True]) == 0.5
    assert M.abstention_rate([]) == 0.0


CHOICES = ["Game of Thrones", "Squid Game", "Breaking Bad", "Friends"]


def test_choice_with_its_whole_phrase_in_the_answer_wins():
    answer = "Netflix said Squid Game returns for a second season."
    # Game of Thrones: content words {game, thrones}, 'game' present -> 1/2;
    # Squid Game: whole phrase -> 1 + 2/1000; the others 0
    assert M.choice_scores(answer, CHOICES) == pytest.approx([0.5, 1.002, 0.0, 0.0])
    assert M.picked_choice(answer, CHOICES) == 1
    assert M.choice_correct(answer, CHOICES, [1]) == 1.0
    assert M.choice_correct(answer, CHOICES, [0]) == 0.0


def test_choice_ties_and_no_support_pick_nothing():
    assert M.picked_choice("Europe and Asia agreed.", ["Europe", "Asia", "Africa"]) is None
    assert M.picked_choice("Nothing relevant here.", CHOICES) is None
    assert M.picked_choice("", CHOICES) is None
    # a contained choice that is part of a longer contained one loses to it
    assert M.picked_choice("Squid Game is back", ["Game", "Squid Game"]) == 1
    # partial support: 2 of 3 content words of choice 0, 0 of the others
    assert M.picked_choice("The ban on assault weapons was dropped",
                           ["Ban on military-style assault weapons", "Mental health"]) == 0


def test_fact_hit_verbatim_and_by_containment():
    passage = ("WASHINGTON — The  Justice Department\nis focused on the deals Google makes, "
               "officials said.")
    assert M.fact_hit("the justice department is focused on the deals", passage)
    fact = "Alderford council approved Stage 3 water rationing on Wednesday"
    # content words: alderford council approved stage 3 water rationing wednesday (8)
    reordered = "On Wednesday the Alderford council approved rationing of water under Stage 3."
    assert M.fact_containment(fact, reordered) == 1.0
    assert M.fact_hit(fact, reordered)
    missing_two = "The Alderford council approved Stage 3 rationing."  # no water, no wednesday
    assert M.fact_containment(fact, missing_two) == pytest.approx(6 / 8)  # 0.75 < 0.8
    assert not M.fact_hit(fact, missing_two)


def test_short_facts_must_appear_verbatim():
    # 3 content words (owen paik resigned) < FACT_MIN_WORDS: containment alone is not enough
    assert not M.fact_hit("Owen Paik resigned", "Paik, Owen, has resigned.")
    assert M.fact_hit("Owen Paik resigned", "Director Owen Paik resigned on Friday.")
    assert M.facts_in("Owen Paik resigned today", ["Owen Paik resigned", "x y"]) == {
        "Owen Paik resigned"}
