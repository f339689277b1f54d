"""Entry point: an rq worker that runs citizens' petition jobs (paxos_redis.jobs.pass_decree).

Listens on the queue named by PAXOS_QUEUE (default "petitions") of the Redis at REDIS_URL.
"""

import os
import sys

from redis import Redis
from rq import Queue, Worker


def main() -> int:
    redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    queue = Queue(os.environ.get("PAXOS_QUEUE", "petitions"), connection=redis)
    Worker([queue], connection=redis).work(with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
