"""Membership changing under the simulator's faults: priests join, leave, are replaced,
are copied, and come back from old copies of their ledgers.

The simulated god follows a target number of voters with the runtime's own policy
(:func:`paxos_redis.protocol.policy.plan`), asking the president for one change at a
time; newcomers and listeners learn of law to fetch as the runtime's roster tells them
(``hear_of``).  The faults, each drawn per step:

* ``join``: a priest with a new ledger (a new identity) starts, as a listener;
* ``leave``: a priest's host is gone for good (the god removes it once it is gone long);
* ``replace``: a priest loses its ledger and comes back with an empty one: a new identity;
* ``duplicate``: a copy of a priest's ledger is started elsewhere.  While the priest runs,
  its claim refuses the copy (counted); while it is down, the copy *is* the priest moved
  to another host (same durable state), and runs instead of it;
* ``old_copy``: a priest that is down is restarted from an old backup of its ledger and
  archive.  The runtime refuses a ledger whose stamp is below the one its identity showed
  (Redis keeps the highest; a priest writes it before any answer that depends on it): the
  copy is caught, and the priest comes back as a new identity, like a replaced one.  The
  simulator keeps those stamps across Redis wipes: the runtime's check needs Redis to
  remember them (README, "Identities"), and the faulty variant without the check is
  caught by ``test_simulation``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from world import Node

from paxos_redis.protocol import ZERO, Identity, Priest, Promise, Votes
from paxos_redis.protocol.policy import View, plan
from paxos_redis.storage.archive import MemoryArchive

if TYPE_CHECKING:
    from simulator import Simulation


class Changes:
    """The membership half of :class:`simulator.Simulation` (a mixin)."""

    #: per step: (join, leave, replace, duplicate, old_copy, backup per live priest)
    rates = (0.006, 0.003, 0.003, 0.004, 0.004, 0.01)
    #: the faulty variants' switches: act as a priest even from an old copy of its ledger;
    #: come back from a lost ledger under the same identity
    check_stamps = True
    new_identity = True
    #: steps a member must be down before the god removes it (and admits another)
    gone_after = 30

    def setup_changes(self: Simulation, voters: int | None = None) -> None:
        self.target = voters or len(self.nodes)
        self.stamps: dict[int, int] = {}          # Redis's "stamps": the highest shown
        self.gone_since: dict[int, int] = {}      # member -> step it was last seen down
        self.retired: list[Node] = []
        self.asked: dict[object, int] = {}        # change -> step last asked (not again soon)
        #: every membership any priest's law has held: none may lose its majority for good
        self.configs_seen: set[frozenset[int]] = {self.founders}
        for key in ("joins", "leaves", "replacements", "duplicates_refused", "moves",
                    "old_copies_caught", "old_copies_same", "changes_asked", "changes_made",
                    "back_removed"):
            self.counts[key] = 0

    # ------------------------------------------------------------ the world's new events

    def new_node(self: Simulation) -> Node:
        identity = self.rng.randrange(1, 1 << 48)
        node = Node(identity, [Identity("sim", identity)])
        node.priest = self.priest_class.restore(node.durable, self.rules, node.archive)
        self.nodes.append(node)
        self.node_of[identity] = node
        if self.side:
            self.side[identity] = self.rng.randint(0, 1)
        return node

    def retire(self: Simulation, node: Node) -> None:
        node.priest = None
        self.nodes.remove(node)
        self.retired.append(node)

    def show_stamp(self: Simulation, node: Node) -> None:
        """What the runtime writes before a step's answers leave (see worker._commit)."""
        if node.priest is not None:
            self.stamps[node.id] = max(self.stamps.get(node.id, 0), node.priest.stamp)

    def change_faults(self: Simulation) -> None:
        rng, (join, leave, replace, duplicate, old_copy, backup) = self.rng, self.rates
        if rng.random() < join * self.faults.changes:
            self.new_node()
            self.counts["joins"] += 1
        if rng.random() < leave * self.faults.changes:
            node = rng.choice(self.nodes)
            if self.can_lose(node):
                self.retire(node)
                self.counts["leaves"] += 1
        if rng.random() < replace * self.faults.changes:
            node = rng.choice(self.nodes)
            if self.can_lose(node) and self.new_identity:
                self.retire(node)
                self.new_node()
                self.counts["replacements"] += 1
            elif node.priest is None and not self.new_identity:      # amnesia: same name
                node.durable, node.archive = [Identity("sim", node.id)], MemoryArchive()
                node.max_promise = ZERO
                self.restart(node)
                self.counts["replacements"] += 1
        if rng.random() < duplicate * self.faults.changes:
            node = rng.choice(self.nodes)
            if node.priest is not None:
                self.counts["duplicates_refused"] += 1     # its claim is held: refused
            else:
                self.restart(node)                         # the ledger moved host
                self.counts["moves"] += 1
        down = [n for n in self.nodes if n.priest is None and n.backups and self.can_lose(n)]
        if down and rng.random() < old_copy * self.faults.changes:
            self.restore_old_copy(rng.choice(down))
        for node in self.live():
            if rng.random() < backup:
                node.backups.append((list(node.durable), copy.deepcopy(node.archive)))
                del node.backups[:-3]

    def note_return(self: Simulation, node: Node) -> None:
        """Count a priest restarted sure it is a member after the law removed it (it knows
        less law than the others): until it learns, it may lead with the old membership."""
        priest = node.priest
        others = [n.priest for n in self.nodes if n.priest is not None and n is not node]
        if priest is not None and others and node.id in priest.law.members.latest():
            newest = max(others, key=lambda p: p.law.known).law
            if newest.known > priest.law.known and node.id not in newest.members.latest():
                self.counts["back_removed"] += 1

    def can_lose(self: Simulation, node: Node) -> bool:
        """Lose ``node`` for good only while every membership any law held keeps a majority
        of priests that exist, and one to spare (the god may remove a member gone for good
        meanwhile): the parliament is meant to outlive the loss, since liveness needs a
        majority of the governing members up."""
        for n in self.live():
            self.configs_seen.update(members for _, members in n.priest.law.members.configs)  # type: ignore[union-attr]
        exist = {n.id for n in self.nodes} - {node.id}
        return all(len(members & exist) >= len(members) // 2 + 2
                   for members in self.configs_seen)

    def restore_old_copy(self: Simulation, node: Node) -> None:
        durable, archive = self.rng.choice(node.backups)
        priest = self.priest_class.restore(durable, self.rules, archive)
        if priest.forgot(self.stamps.get(node.id, 0)) and self.check_stamps:
            self.counts["old_copies_caught"] += 1         # refused: it joins anew
            self.retire(node)
            self.new_node()
            return
        self.counts["old_copies_same"] += 1
        node.durable, node.archive = list(durable), copy.deepcopy(archive)
        node.priest = priest
        node.max_promise = max((r.ballot for r in durable if isinstance(r, (Promise, Votes))),
                               default=ZERO)

    # ------------------------------------------------------------ the god's stewardship

    def listen(self: Simulation) -> None:
        """Priests that hear from no president learn from the roster who knows most."""
        live = self.live()
        if not live:
            return
        best = max(live, key=lambda n: n.priest.law.known)  # type: ignore[union-attr]
        for node in live:
            p = node.priest
            assert p is not None and best.priest is not None
            if node is not best and (p.role != "voter" or p.hint is None) \
                    and not self.cut(node.id, best.id):
                self.act(node, lambda q: q.hear_of(best.id, best.priest.law.known),  # type: ignore[union-attr]
                         may_crash=False)

    def steward(self: Simulation, patience: int) -> None:
        """The god: one change at a time toward ``target`` voters, asked of the president."""
        presidents = [n for n in self.live() if n.priest is not None and n.priest.is_president]
        if not presidents:
            return
        node = max(presidents, key=lambda n: n.priest.president.ballot)  # type: ignore[union-attr]
        p: Priest = node.priest  # type: ignore[assignment]
        law = p.law
        if law.known < law.members.pending_until:
            return
        members = law.members_at(law.known) or frozenset()
        live = {n.id for n in self.live()}
        for member in members:
            if member in live:
                self.gone_since.pop(member, None)
            else:
                self.gone_since.setdefault(member, self.now)
        gone = frozenset(m for m, since in self.gone_since.items()
                         if self.now - since >= patience)
        ready = tuple(n.id for n in self.live() if n.id not in members
                      and n.priest.law.known >= law.known - 4)  # type: ignore[union-attr]
        change = plan(View(members, frozenset(live), ready, gone, p.id), self.target)
        if change is not None and self.asked.get(change, -100) < self.now - 20:
            self.asked[change] = self.now
            self.counts["changes_asked"] += 1
            nonce = f"x{self.counts['changes_asked']}"
            self.petitioned[change.decree(nonce).petition] = change.decree(nonce)
            self.act(node, lambda q: q.propose(change, nonce), may_crash=True)


__all__ = ["Changes", "MemoryArchive"]
