"""Fresh petition ids: unique in a process, across threads, and in a forked child."""

from __future__ import annotations

import os
import threading

from paxos_redis.citizen.petitions import fresh_id, petition_id


def test_fresh_ids_never_repeat_across_threads() -> None:
    got: list[str] = []

    def draw() -> None:
        got.extend(fresh_id() for _ in range(5000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 20_000
    assert petition_id(None) != petition_id(None) and petition_id("mine") == "mine"


def test_a_forked_child_draws_from_its_own_prefix() -> None:
    parent = fresh_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                      # the child: report its next id, leave
        os.write(write, fresh_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child.rpartition("-")[0] != parent.rpartition("-")[0]
    assert child != fresh_id()
