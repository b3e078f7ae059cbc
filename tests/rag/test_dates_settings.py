"""Date phrases resolve against an as-of date; settings merge flags > env > file > defaults."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rag.dates import parse_date, resolve
from rag.errors import ConfigError, InvalidQuestionError
from rag.settings import Settings

AS_OF = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize("question,since,until", [
    ("What did the council decide last week?", date(2026, 11, 16), date(2026, 11, 23)),
    ("What happened yesterday in Alderford?", date(2026, 11, 23), AS_OF),
    ("Any news today?", AS_OF, AS_OF),
    ("What happened this week?", date(2026, 11, 18), AS_OF),
    ("What did Voltrane say last month?", date(2026, 10, 1), date(2026, 11, 1)),
    ("What happened in the past 3 days?", date(2026, 11, 21), AS_OF),
    ("Who won in June 2022?", date(2022, 6, 1), date(2022, 7, 3)),
    ("What happened in October?", date(2026, 10, 1), date(2026, 11, 3)),
    ("What happened in December?", date(2025, 12, 1), date(2026, 1, 3)),
    ("What happened on October 17, 2026?", date(2026, 10, 17), date(2026, 10, 20)),
    ("What happened in 2025?", date(2025, 1, 1), date(2026, 1, 3)),
])
def test_date_phrases_resolve_against_as_of(question, since, until):
    # relative phrases are widened by a day, named dates by three (news follows events)
    r = resolve(question, AS_OF)
    assert (r.since, r.until) == (since, until)


def test_latest_sets_recency_without_a_range():
    r = resolve("What is the latest on the strike?", AS_OF)
    assert r.latest and r.since is None
    assert not resolve("How many scooters were pulled?", AS_OF).latest
    # "may" the verb is not the month
    assert resolve("Who may run for mayor?", AS_OF).since is None


def test_parse_date_errors_clearly():
    assert parse_date("2022/06/16") == date(2022, 6, 16)
    with pytest.raises(InvalidQuestionError, match="expected YYYY-MM-DD"):
        parse_date("next tuesday")


def test_settings_precedence(tmp_path: Path):
    cfg = tmp_path / "newsrag.toml"
    cfg.write_text('[newsrag]\ntop_k = 3\nport = 9000\ncollection = "from-file"\n')
    env = {"NEWSRAG_PORT": "9100", "NEWSRAG_CORS_ORIGINS": "https://a.example, https://b.example"}
    s = Settings.load({"collection": "from-flag", "top_k": None}, env=env, config_path=cfg)
    assert s.collection == "from-flag"  # flag beats file
    assert s.port == 9100  # env beats file
    assert s.top_k == 3  # file beats default
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert Settings.load({}, env={}).data_dir == Path(".newsrag")


def test_settings_errors_name_the_valid_choices(tmp_path: Path):
    with pytest.raises(ConfigError, match="Valid settings are"):
        Settings.load({"no_such": 1}, env={})
    with pytest.raises(ConfigError, match="expects int"):
        Settings.load({}, env={"NEWSRAG_PORT": "eighty"})
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load({}, env={}, config_path=bad)


@pytest.mark.parametrize("env, match", [
    ({"NEWSRAG_RECENCY_PRIOR": "-1"}, "recency_prior' must be 0"),
    ({"NEWSRAG_RECENCY_PRIOR": "nan"}, "recency_prior' must be 0"),
    ({"NEWSRAG_RECENCY_PRIOR_HALF_LIFE_DAYS": "0"}, "more than 0 days"),
])
def test_a_recency_prior_that_cannot_work_is_a_clear_error(env, match):
    with pytest.raises(ConfigError, match=match):
        Settings.load(env=env)
    assert Settings.load(env={"NEWSRAG_RECENCY_PRIOR": "0"}).recency_prior == 0.0  # off
