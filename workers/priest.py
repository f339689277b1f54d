"""Entry point: one priest process (settings from flags and PAXOS_* / REDIS_URL)."""

import sys

from paxos_redis.cli import main

if __name__ == "__main__":
    sys.exit(main(["priest", *sys.argv[1:]]))
