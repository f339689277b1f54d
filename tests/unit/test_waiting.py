"""The petitions a president read and has not answered yet (``runtime/waiting.py``), on
their own: which entries of the petitions stream are acked when, who gets a reply, what
is forgotten.  No Redis: the acks and replies are the lists the methods fill."""

from __future__ import annotations

import time
from typing import Any

from paxos_redis.messengers.citizens import Reply
from paxos_redis.protocol import Applied, Decree
from paxos_redis.runtime.waiting import WaitingPetitions


def stream(citizen: str) -> str:
    return f"replies:{citizen}"


def applied(n: int, pid: str, first: int | None = None) -> Applied:
    return Applied(n, Decree(pid, b"x"), n if first is None else first)


def test_a_retried_petition_replaces_its_first_copy_and_releases_its_entry() -> None:
    w, acks = WaitingPetitions(), []
    w.wait_for("p", "alice", b"1-0", acks)
    w.wait_for("q", "alice", b"2-0", acks)
    w.wait_for("p", "alice", b"3-0", acks)             # the citizen re-sent "p"
    assert acks == [b"1-0"]                            # nothing else waits in 1-0
    assert w.unanswered == {b"2-0": 1, b"3-0": 1}
    assert list(w.petitions) == ["q", "p"] and w.petitions["p"].entry_id == b"3-0"
    extra: list[Any] = []
    w.answer([applied(4, "p")], stream, extra, acks)
    assert extra == [("replies:alice", Reply("p", n=4))] and acks == [b"1-0", b"3-0"]


def test_an_entry_read_again_counts_once_and_its_petition_is_renewed() -> None:
    w, acks = WaitingPetitions(ttl_s=10), []
    w.wait_for("p", "alice", b"1-0", acks)
    w.wait_for("q", "bob", b"2-0", acks)
    for waiting in w.petitions.values():
        waiting.since -= 60                            # as if read a minute ago
    w.wait_for("p", "alice", b"1-0", acks)             # reclaimed: the same entry again
    assert acks == [] and w.unanswered == {b"1-0": 1, b"2-0": 1}
    assert list(w.petitions) == ["q", "p"]
    w.forget(time.monotonic(), acks)                   # "q" is past its TTL, "p" renewed
    assert list(w.petitions) == ["p"] and acks == [b"2-0"]
    w.answer([applied(1, "p")], stream, [], acks)
    assert acks == [b"2-0", b"1-0"] and not w.unanswered       # acked after its only one


def test_an_entry_is_acked_once_none_of_its_petitions_waits() -> None:
    w, acks = WaitingPetitions(), []
    for pid in ("a", "b", "c"):                        # one pack: three petitions, one entry
        w.wait_for(pid, "alice", b"7-0", acks)
    assert w.unanswered == {b"7-0": 3}
    extra: list[Any] = []
    w.answer([applied(1, "a"), applied(2, "c")], stream, extra, acks)
    assert acks == [] and w.unanswered == {b"7-0": 1}  # "b" still waits
    assert extra == [("replies:alice", Reply("a", n=1)), ("replies:alice", Reply("c", n=2))]
    w.answer([applied(3, "b")], stream, extra, acks)
    assert acks == [b"7-0"] and not w.unanswered and not w.petitions
    w.answer([applied(4, "b")], stream, extra, acks)   # passed again: nobody waits for it
    assert acks == [b"7-0"] and len(extra) == 3


def test_a_vouched_petition_is_not_answered_by_the_president() -> None:
    w, acks = WaitingPetitions(), []
    w.wait_for("p", "alice", b"1-0", acks)
    w.wait_for("q", "bob", b"2-0", acks)
    w.wait_for("r", "carol", b"3-0", acks)
    w.vouch(("p", "r", "unknown"))                     # a pid not waiting here is no error
    extra: list[Any] = []
    w.answer([applied(5, "p"), applied(6, "q"), applied(7, "r", first=2)], stream, extra, acks)
    assert extra == [("replies:bob", Reply("q", n=6)),          # not vouched: the president
                     ("replies:carol", Reply("r", n=2))]        # a retry passed before: too
    assert acks == [b"1-0", b"2-0", b"3-0"]                     # all of them released


def test_petitions_are_forgotten_after_their_ttl_and_past_the_maximum() -> None:
    w, acks = WaitingPetitions(ttl_s=10, most=3), []
    for i, pid in enumerate("abcde"):
        w.wait_for(pid, "alice", f"{i + 1}-0".encode(), acks)
    w.wait_for("a", "alice", b"1-0", acks)             # re-sent: now the newest
    now = time.monotonic()
    w.forget(now, acks)                                # five wait, three may: the oldest go
    assert list(w.petitions) == ["d", "e", "a"] and acks == [b"2-0", b"3-0"]
    w.forget(now + 5, acks)                            # within the TTL: nothing more goes
    assert len(w.petitions) == 3
    w.forget(now + 11, acks)
    assert not w.petitions and not w.unanswered
    assert acks == [b"2-0", b"3-0", b"4-0", b"5-0", b"1-0"]
