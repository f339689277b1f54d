"""Synod messages on the wire: the codec's fields, sealed with the parliament's name and a tag.

Every Synod or clerk message carries ``parl`` (the parliament's name) so that a
message meant for another parliament sharing this Redis is refused.  With a
parliament secret set, it also carries ``auth``: an HMAC-SHA256 over the
parliament's name and every other field, so write access to Redis alone is not
enough to forge a vote.  A message that fails either check is refused with
:class:`Refused` (the worker dead-letters and counts it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from paxos_redis.errors import Refused
from paxos_redis.protocol import codec
from paxos_redis.protocol.messages import Message

PARLIAMENT_FIELD = b"parl"
AUTH_FIELD = b"auth"


def _tag(secret: bytes, fields: Mapping[bytes, bytes]) -> bytes:
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for name in sorted(k for k in fields if k != AUTH_FIELD):
        value = fields[name]
        mac.update(len(name).to_bytes(4, "big") + name + len(value).to_bytes(4, "big") + value)
    return mac.hexdigest().encode()


def _bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class Wire:
    """Seals outgoing messages and opens incoming ones for one parliament."""

    def __init__(self, parliament: str, secret: str | bytes | None = None) -> None:
        self.parliament = parliament.encode()
        self.secret = _bytes(secret) if secret else None

    def seal(self, message: Message) -> dict[bytes, bytes]:
        return self.seal_fields(codec.encode(message))

    def seal_fields(self, fields: dict[bytes, bytes]) -> dict[bytes, bytes]:
        """Add the parliament's name and, with a secret, the tag (god's word uses this too)."""
        fields = dict(fields)
        fields[PARLIAMENT_FIELD] = self.parliament
        if self.secret is not None:
            fields[AUTH_FIELD] = _tag(self.secret, fields)
        return fields

    def open(self, raw: Mapping[Any, Any]) -> Message:
        """Check parliament and tag, then decode; raises Refused or MalformedMessage."""
        return codec.decode(self.check(raw))

    def check(self, raw: Mapping[Any, Any]) -> dict[bytes, bytes]:
        """The fields, if they are for this parliament and (with a secret) authentic."""
        try:
            fields = {_bytes(k): _bytes(v) for k, v in raw.items()}
        except (TypeError, ValueError, AttributeError):
            raise Refused("fields are not a mapping of bytes") from None
        parliament = fields.get(PARLIAMENT_FIELD)
        if parliament != self.parliament:
            raise Refused(f"message for parliament {parliament!r}, this is {self.parliament!r}")
        if self.secret is not None:
            tag = fields.get(AUTH_FIELD)
            if tag is None or not hmac.compare_digest(tag, _tag(self.secret, fields)):
                raise Refused("authentication failed: missing or wrong HMAC "
                              "(is PAXOS_SECRET the same on every priest and god?)")
        return fields
