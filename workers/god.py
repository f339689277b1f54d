"""Entry point: one god process (settings from flags and PAXOS_* / REDIS_URL): founds the
parliament, calls ballots, keeps PAXOS_PRIESTS (``--priests N``) priests voting by decree."""

import sys

from paxos_redis.tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["god", *sys.argv[1:]]))
