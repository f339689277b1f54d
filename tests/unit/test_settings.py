"""Settings from flags and the environment: flags win, bad values name what to fix."""

from __future__ import annotations

import pytest

from paxos_redis.settings import Settings, SettingsError


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
