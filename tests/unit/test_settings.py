"""Settings from flags and the environment: flags win, bad values name what to fix."""

from __future__ import annotations

import pytest

from paxos_redis.errors import SettingsError
from paxos_redis.protocol.rules import MAX_DECREE_BYTES, Rules
from paxos_redis.runtime.settings import Settings, parse_rules, rules_changed


def test_the_environment_sets_the_decree_limit_and_the_tick() -> None:
    s = Settings.from_env({"PAXOS_MAX_DECREE_BYTES": "2048", "PAXOS_TICK_MS": "7"})
    assert (s.max_decree_bytes, s.tick_ms) == (2048, 7)
    assert Settings.from_env({}).max_decree_bytes == 1 << 20


def test_flags_win_over_the_environment() -> None:
    assert Settings.from_env({"PAXOS_PRIESTS": "3"}, priests="5").priests == 5


@pytest.mark.parametrize("var, value", [("PAXOS_MAX_DECREE_BYTES", "lots"),
                                        ("PAXOS_MAX_DECREE_BYTES", "0"),
                                        ("PAXOS_TICK_MS", "-1")])
def test_a_bad_value_names_its_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=var):
        Settings.from_env({var: value})


def test_paxos_rules_changes_the_named_rules_and_keeps_the_others() -> None:
    s = Settings.from_env({"PAXOS_RULES": "window_bytes=16777216, batch=128,thrifty=false"})
    assert (s.rules.window_bytes, s.rules.batch, s.rules.thrifty) == (16 << 20, 128, False)
    assert s.rules.window == Settings().rules.window == 1024


def test_a_priest_runs_by_the_defaults_of_rules_and_of_the_core() -> None:
    """One source of defaults: the core's ``Rules()`` and decree limit are the worker's."""
    assert Settings().rules == Settings.from_env({}).rules == Rules() == parse_rules("")
    assert Settings().max_decree_bytes == MAX_DECREE_BYTES
    assert rules_changed(Rules()) == "" and rules_changed(Rules(window=7)) == "window=7"
    assert (Rules().window, Rules().resend_ticks, Rules().president_ticks) == (1024, 5, 25)


def test_the_rules_changed_read_back_as_the_same_rules() -> None:
    rules = parse_rules("batch=128,thrifty=false")
    assert rules_changed(rules) == "batch=128,thrifty=false"
    assert parse_rules(rules_changed(rules)) == rules
    assert rules_changed(Settings().rules) == ""


@pytest.mark.parametrize("text, says", [
    ("window=0", "window must be at least 1"),
    ("window=lots", "window must be an integer"),
    ("windows=5", "'windows=5' is not name=value with one of window, window_bytes"),
    ("window", "is not name=value"),
    ("thrifty=maybe", "thrifty must be true or false"),
])
def test_a_bad_paxos_rules_names_what_to_fix(text: str, says: str) -> None:
    with pytest.raises(SettingsError, match=f"PAXOS_RULES.*{says}"):
        Settings.from_env({"PAXOS_RULES": text})


def test_the_identity_picks_a_ledger_named_by_its_twelve_hex_digits() -> None:
    s = Settings.from_env({"PAXOS_IDENTITY": "00000000abcd", "PAXOS_LEDGER_DIR": "/l",
                           "PAXOS_PARLIAMENT": "p"})
    assert s.identity == "00000000abcd"
    assert str(s.ledger_path(0xABCD)) == "/l/p-00000000abcd.ledger"
    assert Settings.from_env({"PAXOS_IDENTITY": "1"}, identity="2").identity == "2"
    assert Settings.from_env({}).identity is None


@pytest.mark.parametrize("bad", ["0", "xyz", "1000000000000", "-1"])
def test_a_bad_identity_names_the_option(bad: str) -> None:
    with pytest.raises(SettingsError, match="--identity"):
        Settings.from_env({}, identity=bad)
