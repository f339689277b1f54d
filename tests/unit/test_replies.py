"""Answers to citizens: one reply-stream entry per citizen per batch; receipts of votes."""

from __future__ import annotations

import pytest

from paxos_redis.citizen.session import parse_reply
from paxos_redis.messengers.citizens import Reply, Tally, batch_replies, parse_replies
from paxos_redis.protocol import Ballot, MalformedMessage, Receipt


def test_a_batch_gives_each_citizen_one_entry_with_all_its_numbers() -> None:
    law_answer = {b"req": b"r1", b"priest": b"1"}
    extra = [("replies:a", Reply("p1", n=5)), ("replies:b", Reply("p2", n=6)),
             ("replies:a", Reply("p3", n=7)), ("replies:a", Reply("p4", error="too big")),
             ("replies:b", law_answer), ("replies:a", Reply("!sync-1", n=8))]
    out = batch_replies(extra)
    assert ("replies:a", Reply("p4", error="too big").fields()) in out
    assert ("replies:b", law_answer) in out
    packed = {stream: fields for stream, fields in out if b"passed" in fields}
    assert len(out) == 4 and set(packed) == {"replies:a", "replies:b"}
    assert parse_replies(packed["replies:a"]) == [Reply("p1", n=5), Reply("p3", n=7),
                                                  Reply("!sync-1", n=8)]
    assert parse_replies(packed["replies:b"]) == [Reply("p2", n=6)]


def test_one_answer_per_entry_still_reads() -> None:
    assert parse_replies(Reply("p", n=3).fields()) == [Reply("p", n=3)]
    assert parse_replies(Reply("p", error="no").fields()) == [Reply("p", error="no")]


def test_a_mangled_batch_is_malformed_and_the_client_skips_it() -> None:
    good = batch_replies([("s", Reply("p1", n=5))])[0][1]
    with pytest.raises(MalformedMessage, match="passed"):
        parse_replies({b"passed": good[b"passed"][:-2] + b"\xff\xff\xff"})
    assert parse_reply({b"passed": b"\x00\x00"}) == []


#: five priests' identities (random 48-bit numbers in a running parliament)
P = (0x1A2B3C4D5E6F, 0x000000000101, 0x7FFFFFFFFFFF, 0x0000DEADBEEF, 0x123456789ABC)
B1, B2 = Ballot(1, P[0]), Ballot(2, P[1])


def receipt(priest: int, n: int = 4, ballot: Ballot = B1, pid: str = "p1", of: int = 5) -> Receipt:
    return Receipt("c-1", priest, of, ballot, n, pid)


def test_receipts_go_in_one_entry_per_citizen_priest_and_ballot() -> None:
    extra = [("replies:a", receipt(P[1], n=4, pid="p1")), ("replies:a", receipt(P[1], n=5, pid="p2")),
             ("replies:a", receipt(P[1], n=6, ballot=B2, pid="p3")), ("replies:a", Reply("p0", n=3)),
             ("replies:a", receipt(P[2], n=4, pid="p1"))]
    out = batch_replies(extra)
    assert len(out) == 4
    parsed = [parse_replies(fields) for _, fields in out]
    assert [Reply("p0", n=3)] in parsed
    assert [(r.petition, r.n, r.ballot, r.priest, r.of) for r in parsed[1]] == \
        [("p1", 4, B1, P[1], 5), ("p2", 5, B1, P[1], 5)]
    assert [(r.petition, r.ballot) for r in parsed[2]] == [("p3", B2)]
    assert [(r.petition, r.priest) for r in parsed[3]] == [("p1", P[2])]


def test_a_receipt_entry_with_a_bad_priest_count_or_ballot_is_malformed() -> None:
    [(_, good)] = batch_replies([("s", receipt(P[1]))])
    assert good[b"priest"] == str(P[1]).encode()
    for field, value in ((b"priest", b"0"), (b"priest", str(2**63).encode()), (b"of", b"0"),
                         (b"of", b"1001")):
        with pytest.raises(MalformedMessage, match="priest"):
            parse_replies({**good, field: value})
    with pytest.raises(MalformedMessage, match="ballot"):
        parse_replies({**good, b"ballot": b"one"})
    assert parse_reply({**good, b"of": b"x"}) == []


def test_a_majority_of_members_at_one_number_and_ballot_answers() -> None:
    tally = Tally()
    assert tally.add(receipt(P[0])) is None
    assert tally.add(receipt(P[0])) is None                # the same priest twice counts once
    assert tally.add(receipt(P[1], ballot=B2)) is None     # another ballot: not with these
    assert tally.add(receipt(P[2], n=5)) is None           # another number: not with these
    assert tally.add(receipt(P[3], of=3)) is None          # counted among 3 members: apart
    assert tally.add(receipt(P[3])) is None
    assert tally.add(receipt(P[4])) == Reply("p1", n=4)    # P0, P3, P4 of 5 at (4, B1)


def test_three_members_need_two_receipts_and_a_forgotten_petition_starts_over() -> None:
    tally = Tally()
    assert tally.add(receipt(P[0], of=3)) is None
    tally.forget("p1")
    assert tally.add(receipt(P[1], of=3)) is None
    assert tally.add(receipt(P[2], of=3)) == Reply("p1", n=4)
