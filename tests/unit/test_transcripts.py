"""Synod scenarios as readable transcripts (``tests/transcripts/*.txt``), one test per file.

Each file is replayed against the real core and its text compared with what the core
produced; ``REWRITE=1 python -m pytest tests/unit/test_transcripts.py`` writes the
produced text into the files instead (review the diff before keeping it).  The format and
commands are described in :mod:`transcript`; the priests and the rendering of their
messages and records are in :mod:`transcript_world`.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from transcript import Mismatch, TranscriptError, check, check_file, replay
from transcript_world import Renderer

from paxos_redis.protocol import Ballot, BeginBallot, Decree, Effects, Promise

FILES = sorted((Path(__file__).resolve().parents[1] / "transcripts").glob("*.txt"))


def test_there_are_transcripts() -> None:
    assert len(FILES) >= 6, FILES


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path) -> None:
    check_file(path)


# ---------------------------------------------------------------- the runner itself

TINY = """\
# one priest founds a parliament of one, and presides
found 1 priests
----
A: write Passed entries=[0:founding(A alpha=4096)]
A: apply 0

start-ballot A
----
A: write Tried ballot=0.A
A: write Promise ballot=0.A
"""


def test_a_transcript_that_matches_passes() -> None:
    check(TINY)
    assert replay(TINY) == TINY


def test_a_wrong_expected_line_is_reported_with_a_diff() -> None:
    wrong = TINY.replace("Tried ballot=0.A", "Tried ballot=1.A")
    assert wrong != TINY
    with pytest.raises(Mismatch) as failure:
        check(wrong, "tiny.txt")
    report = str(failure.value)
    assert "first at line 7: 'start-ballot A'" in report
    assert "-A: write Tried ballot=1.A" in report
    assert "+A: write Tried ballot=0.A" in report


def test_a_missing_or_extra_line_is_a_mismatch_too() -> None:
    with pytest.raises(Mismatch):
        check(TINY.replace("A: apply 0\n", ""))
    with pytest.raises(Mismatch):
        check(TINY + "A: write Promise ballot=9.A\n")


def test_a_command_without_output_gets_it_on_replay() -> None:
    founded = TINY.split("\n\nstart-ballot")[0].split("\n", 1)[1] + "\n"
    assert founded.startswith("found 1 priests\n----\nA: write Passed")
    assert replay("found 1 priests\n") == founded


def test_an_unknown_command_or_priest_is_an_error_naming_the_line() -> None:
    with pytest.raises(TranscriptError, match="line 1: 'fly A'"):
        replay("fly A\n----\nok\n")
    with pytest.raises(TranscriptError, match="no priest 'Z'"):
        replay("found 1 priests\n----\nok\n\ntick Z\n----\nok\n")


def test_messages_are_rendered_field_by_field_and_effects_by_their_lists_only() -> None:
    """A field added to a message shows up; a field added to Effects changes nothing."""
    render = Renderer({1: "A", 2: "B"})
    x = Decree("x", b"hello")
    begin = BeginBallot(1, Ballot(3, 1), 1, ((1, x),), receipt=(1, "c-1", 3))
    assert render.message(begin, [2]) == \
        "BeginBallot A->B ballot=3.A known=1 entries=[1:x(hello)] receipt=[1, c-1, 3]"
    steps = [Effects(records=[Promise(Ballot(3, 1))], messages=[(2, begin)]),
             SimpleNamespace(records=[Promise(Ballot(3, 1))], messages=[(2, begin)], applied=[],
                             receipts=[], vouched=("x",), something_new=True)]
    first, second = (render.effects("A", eff) for eff in steps)
    assert first == second == [
        "A: write Promise ballot=3.A",
        "A: send BeginBallot A->B ballot=3.A known=1 entries=[1:x(hello)] receipt=[1, c-1, 3]"]
