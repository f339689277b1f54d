"""Transcript tests of the Synod, in the manner of etcd-io/raft's ``testdata/*.txt``.

A transcript is a text file of directives.  Each directive is a command line, a line
``----``, and the output the command is expected to produce, up to a blank line::

    # comments and blank lines between directives are kept as they are
    start-ballot A
    ----
    A: write Tried ballot=0.A
    A: write Promise ballot=0.A
    A: send NextBallot A->B,C ballot=0.A known=1 from_n=1

    deliver
    ----
    NextBallot A->B ballot=0.A known=1 from_n=1
      B: write Promise ballot=0.A
      B: send LastVote B->A ballot=0.A known=1 from_n=1 votes=[] passed=[]
    NextBallot A->C ballot=0.A known=1 from_n=1  (lost: C is down)

A step's output lists, per priest, the records it writes (``write``, durable before its
messages leave), the messages it sends (``send``: one line per message, its receivers
together), the decree numbers it applies (``apply``), receipts for citizens, answers to
petitions from the law (``answer``) and messages it refuses (``refuse``); ``deliver``
shows each message delivered, with the receiver's step indented below it.  A command
with no output shows ``ok``.

:func:`replay` runs the commands against the real core (``paxos_redis.protocol``) and
returns the file with the outputs it produced; :func:`check` compares that with the file
and raises :class:`Mismatch` with a unified diff.  ``REWRITE=1`` in the environment writes
the produced outputs into the file instead (a command written without ``----`` gets its
output that way), as etcd's datadriven does.

Priests are named ``A``, ``B``, ... (identities 1, 2, ...); a ballot ``(round, priest)`` is
written ``round.NAME`` (``none``: no ballot); a decree ``pid(body)``, ``olive-day``,
``founding(members alpha=K)`` or ``admit(NAME)``/``remove(NAME)``; a decree number ``n``
holding it ``n:decree``, and a vote ``n:decree@ballot``.  Messages and ledger records are
rendered from their dataclass fields (``Type field=value ...``, fields at their default
left out), so a field added to a message shows up, and a field added to :class:`Effects`
changes nothing.

Commands (``NAME`` is a priest, ``FILTER`` is ``SRC->DST`` with ``*`` for any, then
optional message type names):

=============================================  ============================================
``found N priests [listeners=M] [alpha=K]``    decree 0 names the first N priests (the
``        [RULE=VALUE ...]``                   members); M more priests know it and listen.
                                               The rules: ``transcript_world.RULES``,
                                               with the RULE=VALUE given
``start-ballot NAME``                          the priest starts a ballot (step 1)
``petition NAME pid=P body=B [pid=.. ..]``     citizens' decrees reach the priest (triaged
                                               by it first, if the core can)
``propose NAME admit|remove NAME [nonce=N]``   a membership change, if NAME presides
``deliver [FILTER]``                           deliver the messages in flight (one hop: the
                                               answers wait for the next deliver)
``drop [FILTER]``                              lose the messages in flight that match
``inflight``                                   list the messages in flight
``tick [NAME ...] [times=N]``                  tick the priests' clocks (all live priests)
``crash NAME``                                 the priest stops; only its ledger survives;
                                               messages reaching it meanwhile are lost
``restart NAME``                               the priest comes back from its ledger
``show NAME ...``                              the priest's state: promise, votes, law
``ledger NAME``                                every record in the priest's ledger
=============================================  ============================================

After every step the runner checks that no two priests know different decrees passed at
one decree number (the one property that matters), whatever the transcript says.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from transcript_world import TranscriptError, World

__all__ = ["Mismatch", "TranscriptError", "check", "check_file", "parse", "replay"]

SEPARATOR = "----"


class Mismatch(AssertionError):
    """The core produced other output than a transcript expects."""


# ---------------------------------------------------------------- the file format


@dataclass
class Directive:
    line: int                     # 1-based line number of the command
    command: str
    expected: list[str]
    separated: bool               # the file has the ``----`` line


@dataclass
class Parsed:
    """A transcript: verbatim text (comments, blank lines) interleaved with directives."""

    parts: list[str | Directive] = field(default_factory=list)

    @property
    def directives(self) -> list[Directive]:
        return [p for p in self.parts if isinstance(p, Directive)]


def parse(text: str) -> Parsed:
    lines = text.splitlines()
    parsed = Parsed()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            parsed.parts.append(line)
            i += 1
            continue
        start = i
        i += 1
        expected: list[str] = []
        separated = i < len(lines) and lines[i] == SEPARATOR
        if separated:
            i += 1
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i])
                i += 1
        parsed.parts.append(Directive(start + 1, line.strip(), expected, separated))
    return parsed


def unparse(parsed: Parsed, outputs: dict[int, list[str]]) -> str:
    out: list[str] = []
    for part in parsed.parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out += [part.command, SEPARATOR, *outputs[part.line]]
    return "\n".join(out) + "\n"


def replay(text: str) -> str:
    """Run ``text``'s commands against the core; the transcript with the outputs produced."""
    parsed = parse(text)
    if not parsed.directives:
        raise TranscriptError("a transcript needs at least one command")
    world = World()
    outputs: dict[int, list[str]] = {}
    for directive in parsed.directives:
        try:
            lines = world.run(directive.command)
        except TranscriptError as exc:
            raise TranscriptError(f"line {directive.line}: {directive.command!r}: {exc}") from None
        outputs[directive.line] = lines or ["ok"]
    return unparse(parsed, outputs)


def check(text: str, name: str = "transcript") -> None:
    """Raise :class:`Mismatch` if replaying ``text`` does not reproduce it exactly."""
    actual = replay(text)
    if actual == text:
        return
    parsed, produced = parse(text), parse(actual)
    first = next((want for want, got in zip(parsed.directives, produced.directives, strict=True)
                  if (want.expected, want.separated) != (got.expected, got.separated)), None)
    where = f" first at line {first.line}: {first.command!r}" if first else ""
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True),
                                        actual.splitlines(keepends=True),
                                        f"{name} (expected)", f"{name} (produced)"))
    raise Mismatch(f"{name}: the core's output differs from the transcript;{where}\n"
                   f"(run with REWRITE=1 to accept the produced output)\n{diff}")


def check_file(path: Path) -> None:
    """Check one transcript file, or rewrite it with ``REWRITE=1`` in the environment."""
    text = path.read_text()
    if os.environ.get("REWRITE"):
        actual = replay(text)
        if actual != text:
            path.write_text(actual)
        return
    check(text, path.name)
