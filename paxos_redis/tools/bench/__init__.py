"""``paxos-redis bench``: a parliament on this machine under load, and what it costs.

Modules, one job each:

* :mod:`~paxos_redis.tools.bench.cluster`: redis-server (or ``--redis``), a god, N priests
  (a :class:`~paxos_redis.tools.local_parliament.LocalParliament`);
* :mod:`~paxos_redis.tools.bench.citizen`: one citizen process (sequential or saturated load);
* :mod:`~paxos_redis.tools.bench.load`: the citizen processes of one phase, and their reports;
* :mod:`~paxos_redis.tools.bench.measure`: CPU and Redis command snapshots, latency percentiles;
* :mod:`~paxos_redis.tools.bench.runner`: the phases of a run, and its report as a dict;
* :mod:`~paxos_redis.tools.bench.report`, :mod:`~paxos_redis.tools.bench.progress`: text, JSON, stderr;
* :mod:`~paxos_redis.tools.bench.command`: the ``paxos-redis bench`` options.
"""
