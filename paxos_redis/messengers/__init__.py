"""The messengers: Redis keys, connections, streams, sealed messages, heartbeats and the
citizens' fields.

Imports only :mod:`paxos_redis.protocol` and :mod:`paxos_redis.errors`: Redis carries; the
ledgers decide.
"""
