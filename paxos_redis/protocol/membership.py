"""Membership is law: which priests vote is decided by decree (the paper's section 3.3.5).

A priest is named by its *identity*, a number drawn at random when its ledger is
created and kept in it: a new ledger is a new priest.  A priest removed with its ledger
intact may be admitted again (its promises and votes are all in its ledger).

* Decree 0 is the **founding**: the parliament's genesis name, ``alpha`` and its first
  members.  A god writes it once (see the runtime); every priest's law starts with it.
* A later decree may **admit** or **remove** one priest.  A change passed at decree
  ``m`` governs the ballots for decrees from ``m + alpha`` on, as in the paper.  The
  membership that governs decree ``n`` is thus fixed by the law below ``n - alpha + 1``,
  so a president that knows every decree below ``known`` knows the membership of every
  number below ``known + alpha``, and proposes nothing beyond.  Two presidents count
  the votes for one decree number in the same membership, whatever else they know, so
  majorities of it intersect (B2) as in a parliament that never changes.
* One change at a time: a change passed before the previous one took effect
  (``m < pending_until``) is void; so is admitting a member, or removing a priest
  that does not sit, or the last one.  Every priest applies the same law, so
  every priest voids the same changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paxos_redis.errors import ProtocolError
from paxos_redis.protocol.decree import Decree

#: petition id of the founding decree (followed by the genesis name)
FOUNDING = "!found:"
#: petition ids of membership changes start with this (then a unique suffix)
CHANGE = "!members:"
#: the petition-id prefixes of decrees only the parliament itself may pass
RESERVED = (FOUNDING, CHANGE)
#: decrees a change waits before it governs ballots, unless the founding says otherwise
ALPHA = 4096
#: the most priests a founding or a change may name
MAX_MEMBERS = 64
#: identities are drawn from [1, 2**48)
IDENTITY_BITS = 48


def name(identity: int) -> str:
    """How an identity is written for people and Redis keys: 12 hex digits."""
    return f"{identity:012x}"


def parse_name(text: str) -> int:
    """An identity from its 12 hex digits (or fewer); ProtocolError on anything else."""
    try:
        value = int(text, 16)
    except (TypeError, ValueError):
        raise ProtocolError(f"a priest's identity is up to 12 hex digits, got {text!r}") from None
    if not 0 < value < 1 << IDENTITY_BITS or len(text) > 12:
        raise ProtocolError(f"a priest's identity is up to 12 hex digits, got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class Founding:
    """Decree 0: the parliament's ``genesis`` (unique per founding), ``alpha``, first members."""

    genesis: str
    alpha: int
    members: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.genesis or not self.genesis.isalnum() or len(self.genesis) > 32:
            raise ProtocolError(f"genesis must be 1-32 letters or digits, got {self.genesis!r}")
        if not 1 <= self.alpha <= 1 << 20:
            raise ProtocolError(f"alpha must be in [1, 2**20], got {self.alpha}")
        if not 1 <= len(self.members) <= MAX_MEMBERS or len(set(self.members)) != len(self.members):
            raise ProtocolError(f"a founding names 1 to {MAX_MEMBERS} distinct priests")
        for member in self.members:
            if not 0 < member < 1 << IDENTITY_BITS:
                raise ProtocolError(f"identity {member} is out of range")

    def decree(self) -> Decree:
        body = f"alpha={self.alpha} members={','.join(name(m) for m in sorted(self.members))}"
        return Decree(FOUNDING + self.genesis, body.encode())

    @classmethod
    def parse(cls, decree: Decree) -> Founding:
        """The founding a decree holds; ProtocolError if it holds none."""
        if not decree.petition.startswith(FOUNDING):
            raise ProtocolError(f"not a founding decree: {decree.petition!r}")
        try:
            fields = dict(part.split("=", 1) for part in decree.body.decode().split())
            members = tuple(parse_name(m) for m in fields["members"].split(","))
            return cls(decree.petition[len(FOUNDING):], int(fields["alpha"]), members)
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"malformed founding decree {decree.body[:80]!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Change:
    """Admit or remove one priest."""

    op: str
    priest: int

    def __post_init__(self) -> None:
        if self.op not in ("admit", "remove"):
            raise ProtocolError(f"a membership change is admit or remove, got {self.op!r}")
        if not 0 < self.priest < 1 << IDENTITY_BITS:
            raise ProtocolError(f"identity {self.priest} is out of range")

    def decree(self, nonce: str) -> Decree:
        return Decree(f"{CHANGE}{self.op}:{name(self.priest)}:{nonce}",
                      f"{self.op} {name(self.priest)}".encode())

    @classmethod
    def parse(cls, decree: Decree) -> Change:
        try:
            op, who = decree.body.decode().split()
            return cls(op, parse_name(who))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError(f"malformed membership change {decree.body[:80]!r}") from None


def is_membership(petition: str) -> bool:
    """Decrees only the parliament itself may pass (citizens' petitions with such ids are
    refused)."""
    return petition.startswith(RESERVED)


@dataclass(slots=True)
class Membership:
    """The membership as the law applied so far decides it (unfounded until decree 0)."""

    genesis: str = ""
    alpha: int = ALPHA
    #: (first decree number governed, members), ascending; the last one is the newest
    configs: list[tuple[int, frozenset[int]]] = field(default_factory=list)
    #: a change passed below this number has not taken effect yet
    pending_until: int = 0
    #: the decree number of the last change that took hold (0: the founding)
    changed_at: int = 0
    #: how many changes took hold since the founding
    taken: int = 0
    #: changes that were void, and why (the last few, for the runtime to report)
    void: list[tuple[int, str]] = field(default_factory=list)

    @property
    def founded(self) -> bool:
        return bool(self.configs)

    def apply(self, n: int, decree: Decree) -> bool:
        """Apply decree ``n`` if it is a membership decree; True if the membership changed."""
        petition = decree.petition
        try:
            if petition.startswith(FOUNDING):
                return self._found(n, Founding.parse(decree))
            if petition.startswith(CHANGE):
                return self._change(n, Change.parse(decree))
        except ProtocolError as exc:
            self._void(n, str(exc))
        return False

    def _found(self, n: int, founding: Founding) -> bool:
        if n != 0 or self.founded:
            self._void(n, "a founding decree counts only at decree 0")
            return False
        self.genesis, self.alpha = founding.genesis, founding.alpha
        self.configs = [(0, frozenset(founding.members))]
        return True

    def _change(self, n: int, change: Change) -> bool:
        latest = self.configs[-1][1] if self.configs else frozenset()
        problem = None
        if not self.founded:
            problem = "the parliament is not founded"
        elif n < self.pending_until:
            problem = f"another change takes effect at {self.pending_until} (one at a time)"
        elif change.op == "admit" and change.priest in latest:
            problem = f"{name(change.priest)} is a member already"
        elif change.op == "remove" and change.priest not in latest:
            problem = f"{name(change.priest)} is not a member"
        elif change.op == "remove" and len(latest) == 1:
            problem = "the last member cannot be removed"
        if problem is not None:
            self._void(n, problem)
            return False
        members = latest | {change.priest} if change.op == "admit" else latest - {change.priest}
        self.configs.append((n + self.alpha, frozenset(members)))
        self.pending_until = n + self.alpha
        self.changed_at = n
        self.taken += 1
        del self.configs[:-4]            # older ones govern numbers long passed
        return True

    def _void(self, n: int, why: str) -> None:
        self.void = [*self.void[-7:], (n, why)]

    def at(self, n: int, known: int) -> frozenset[int] | None:
        """The members that govern decree ``n``, for a priest that knows every decree below
        ``known``; None if that law does not decide it yet (or nothing is founded)."""
        if not self.configs or n >= known + self.alpha:
            return None
        for start, members in reversed(self.configs):
            if start <= n:
                return members
        return self.configs[0][1]

    def until(self, n: int, known: int) -> int:
        """The first number above ``n`` whose members may differ from ``n``'s (as far as a
        priest that knows the law below ``known`` can tell)."""
        limit = known + self.alpha
        for start, _ in self.configs:
            if start > n:
                return min(start, limit)
        return limit

    def latest(self) -> frozenset[int]:
        """The members once every change passed so far takes effect."""
        return self.configs[-1][1] if self.configs else frozenset()

    def ahead(self, known: int) -> frozenset[int]:
        """Every member of a membership governing some number in ``[known, known + alpha)``."""
        out: set[int] = set()
        for start, members in reversed(self.configs):
            if start < known + self.alpha:
                out |= members
            if start <= known:                  # the one in force at ``known``: no older
                break
        return frozenset(out)

    def copy(self) -> Membership:
        return type(self)(self.genesis, self.alpha, list(self.configs), self.pending_until,
                          self.changed_at, self.taken, list(self.void))
