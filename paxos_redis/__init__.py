"""paxos-redis: Lamport's Part-Time Parliament (multi-decree Paxos) with Redis Streams as messengers.

Citizens use :class:`Client` (or :class:`AsyncClient`) to petition decrees and read the law.
"""

from paxos_redis.citizen.aio import AsyncClient
from paxos_redis.citizen.client import Client
from paxos_redis.errors import (
    DecreeTooLarge,
    ParliamentUnavailable,
    PaxosError,
    PetitionRefused,
    PetitionTimeout,
)

__all__ = [
    "AsyncClient", "Client", "DecreeTooLarge", "ParliamentUnavailable", "PaxosError",
    "PetitionRefused", "PetitionTimeout",
]
