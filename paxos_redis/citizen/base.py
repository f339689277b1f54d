"""What the two citizens' clients share: who the citizen is and its sans-I/O session.

:class:`~paxos_redis.citizen.client.Client` (blocking) and
:class:`~paxos_redis.citizen.aio.AsyncClient` (asyncio) both derive from
:class:`Citizen`; each does the I/O of the citizen's side of the protocol its own way,
and the :class:`~paxos_redis.citizen.session.Session` decides.
"""

from __future__ import annotations

from typing import Any

from paxos_redis.citizen.session import Session
from paxos_redis.messengers.streams import max_block_ms


class Citizen:
    """A citizen of a Parliament on a Redis client ``redis`` (bytes replies).

    ``citizen_id`` names the reply stream; give each live client its own (the default
    is a fresh random id, the reply stream deleted on close).  ``retry``: seconds
    between re-sends of an unanswered petition.  ``max_decree_bytes``: the largest
    decree body it petitions for.
    """

    def __init__(self, redis: Any, parliament: str, *, citizen_id: str | None = None,
                 max_decree_bytes: int = 1 << 20, retry: float = 1.0) -> None:
        # a BLOCK on the reply stream must end before the socket times out
        self._session = session = Session(parliament, citizen_id, retry=retry,
                                          max_decree_bytes=max_decree_bytes,
                                          block_cap=max_block_ms(redis))
        self.redis = redis
        self.keys, self.citizen_id = session.keys, session.citizen_id
        self.reply_stream = session.reply_stream
        self.max_decree_bytes, self.retry = max_decree_bytes, retry
        self._owns_redis, self._closed = False, False
