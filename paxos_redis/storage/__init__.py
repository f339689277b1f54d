"""Storage: the priest's ledger (framing, replay, the archive of compacted law, the text dump).

Imports only :mod:`paxos_redis.protocol` and :mod:`paxos_redis.errors`.
"""
