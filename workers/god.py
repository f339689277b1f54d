"""Entry point: one god (supervisor) process (settings from flags and PAXOS_* / REDIS_URL)."""

import sys

from paxos_redis.cli import main

if __name__ == "__main__":
    sys.exit(main(["god", *sys.argv[1:]]))
