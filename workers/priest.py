"""Entry point: one priest process (settings from flags and PAXOS_* / REDIS_URL).

It runs as the first ledger in PAXOS_LEDGER_DIR no other process holds, or as a new
priest (a new ledger, a new identity) when every one is held; ``--identity HEX`` picks one.
"""

import sys

from paxos_redis.tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["priest", *sys.argv[1:]]))
