"""Entry point: an rq worker that runs citizens' petition jobs (paxos_redis.citizen.jobs.pass_decree).

Listens on the queue named by PAXOS_QUEUE (default "petitions") of the Redis at RQ_REDIS_URL,
or REDIS_URL when that is not set.  The jobs reach the parliament through REDIS_URL, so rq
and the parliament can be separate Redis users (rq needs far more commands and keys).
"""

import os
import sys

from redis import Redis
from rq import Queue, Worker


def main() -> int:
    url = os.environ.get("RQ_REDIS_URL") or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis = Redis.from_url(url)
    queue = Queue(os.environ.get("PAXOS_QUEUE", "petitions"), connection=redis)
    Worker([queue], connection=redis).work(with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
