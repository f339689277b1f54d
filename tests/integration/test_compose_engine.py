"""``compose.yaml`` on a real Docker engine: a parliament that scales as workers.

The image is built, the file brought up with 3 priest replicas and citizens petitioning
from this host the whole time; then ``--scale priest=5`` (both new replicas admitted by
decree), ``--scale priest=7`` (5 vote, 2 wait as listeners; every replica runs, none
restarts), ``docker kill`` of the president and another voter for good (removed by decree,
the listeners admitted in their place), ``--scale priest=5`` again; at the end every
acknowledged petition is in the law at its number and every ledger in the volume agrees
with it.  Deselected by default (``-m docker``; ``.ci/run`` runs it); skipped with one line
where Docker cannot run.  The faster process-level twin is ``test_compose.py``.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator

import pytest
from citizen_load import Citizens, check_law, law_map
from docker_compose import ComposeProject, docker_missing
from processes import wait_for

from paxos_redis.citizen.client import Client
from paxos_redis.messengers.connection import connect
from paxos_redis.messengers.heartbeat import Beat, president_of, read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.storage.text import law_line

pytestmark = pytest.mark.docker

PARLIAMENT = "composed"
#: the god's --remove-after in this test (compose's default is 30 s)
REMOVE_AFTER_S = 8
TARGET = 5                      # compose.yaml's PAXOS_PRIESTS


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeProject]:
    missing = docker_missing()
    if missing is not None:
        pytest.skip(f"Docker cannot run here: {missing}")
    compose = ComposeProject(tmp_path_factory.mktemp("compose"), {
        "PAXOS_PARLIAMENT": PARLIAMENT, "PAXOS_SECRET": secrets.token_hex(16),
        "PAXOS_REMOVE_AFTER": str(REMOVE_AFTER_S)})
    try:
        compose.run("build", timeout=1200)
        yield compose
    finally:
        compose.close()


class Watch:
    """What the priests beat in Redis, read from this host."""

    def __init__(self, project: ComposeProject, url: str) -> None:
        self.project, self.redis, self.keys = project, connect(url), Keys(PARLIAMENT)

    def beats(self) -> dict[int, Beat]:
        try:
            return read_roster(self.redis, self.keys)
        except OSError:
            return {}

    def voters(self) -> frozenset[int] | None:
        """The members, if a president acts, every member beats as a voter and every beat
        comes from a running priest container; else None."""
        beats = self.beats()
        president = president_of(beats)
        if president is None:
            return None
        members = frozenset(president.members)
        hosts = self.project.hostnames("priest")
        if all(m in beats and beats[m].role == "voter" and beats[m].host in hosts
               for m in members):
            return members
        return None

    def explain(self) -> str:
        rows = [f"  {b.name} {b.role} president={b.president} known={b.known} host={b.host}"
                for b in self.beats().values()]
        return "beats:\n" + "\n".join(rows) + "\n" + self.project.logs()


def flowing(citizens: Citizens, more: int) -> None:
    """Petitions keep passing: ``more`` acknowledged beyond the count now."""
    citizens.wait_acked(citizens.acked_count + more, 90)


def test_scale_up_kill_and_scale_down_on_docker(project: ComposeProject) -> None:
    project.scale(3)
    url = project.redis_url()
    watch = Watch(project, url)
    first = wait_for(lambda: (v := watch.voters()) and len(v) == 3 and v, 90,
                     "the god to found the parliament with the 3 replicas", explain=watch.explain)

    citizens = Citizens(url, PARLIAMENT, 1_000_000, shared=2, own=1, prefix="dk",
                        timeout=5, give_up=300).start()
    try:
        flowing(citizens, 30)

        # --scale priest=5: two new priests listen, catch up, and are admitted by decree
        scaled = time.monotonic()
        project.scale(5)
        five = wait_for(lambda: (v := watch.voters()) and len(v) == 5 and v, 120,
                        "the 2 new replicas to be admitted (5 voters)", explain=watch.explain)
        admitted_s = time.monotonic() - scaled
        assert first < five
        flowing(citizens, 30)

        # --scale priest=7: 2 more wait as listeners; every replica runs, none restarts
        project.scale(7)
        listeners = wait_for(
            lambda: len(ls := {p for p, b in watch.beats().items() if b.role == "listener"}) == 2
            and ls, 90, "the 2 extra replicas to listen", explain=watch.explain)
        time.sleep(5)
        priests = project.containers("priest")
        assert len(priests) == 7
        for c in priests:
            assert c["State"]["Running"] and c["RestartCount"] == 0, (  # type: ignore[index]
                f"{c['Name']}: {c['State']} restarts={c['RestartCount']}")
        assert watch.voters() == five, "the extra replicas changed the voters"
        flowing(citizens, 30)

        # docker kill the president and one more voter, for good: removed by decree after
        # --remove-after, the two listeners admitted in their place
        beats = watch.beats()
        president = president_of(beats)
        assert president is not None
        other = next(m for m in sorted(five) if m != president.priest)
        doomed = {president.priest: beats[president.priest].host, other: beats[other].host}
        hosts = project.hostnames("priest")
        killed = time.monotonic()
        for host in doomed.values():
            subprocess.run(["docker", "kill", hosts[host]], check=True, capture_output=True)
        replaced = wait_for(lambda: (v := watch.voters()) and len(v) == 5 and
                            not v & doomed.keys() and v, 120,
                            "the 2 killed voters to be replaced by the listeners",
                            explain=watch.explain)
        replaced_s = time.monotonic() - killed
        assert replaced == (five - doomed.keys()) | listeners, "not the listeners stepped in"
        flowing(citizens, 30)

        # --scale priest=5: compose keeps 5 containers; the parliament ends with 5 voters
        project.scale(5)
        final = wait_for(lambda: (v := watch.voters()) and len(v) == 5 and
                         len(project.hostnames("priest")) == 5 and v, 150,
                         "5 voters on the 5 replicas left", explain=watch.explain)
        flowing(citizens, 30)
    finally:
        citizens.stop_event.set()
    citizens.join(60)

    with Client.from_url(url, parliament=PARLIAMENT) as client:
        law = client.law(linearizable=True, timeout=60)
    check_law(law_map(law_line(n, body) for n, body in law), citizens, complete=False)
    parliament = dict(law)
    ledgers = project.ledger_laws()
    assert len(ledgers) >= 7, f"expected a ledger per priest that ever ran: {sorted(ledgers)}"
    for path, lines in ledgers.items():
        for line in lines:
            n, _, body = line.partition(",")
            assert law_line(int(n), parliament.get(int(n), b"(missing)")) == line, (
                f"{path} holds {line!r}; the parliament's law at {n} is "
                f"{parliament.get(int(n))!r}")
    print(f"\nacknowledged {len(citizens.acked())} petitions; 3->5 admitted in "
          f"{admitted_s:.1f} s; 2 killed voters replaced in {replaced_s:.1f} s "
          f"(--remove-after {REMOVE_AFTER_S}); final voters {len(final)}")
