# paxos-redis: one image for every role (god, priest, petitions worker); compose.yaml picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY paxos_redis ./paxos_redis
COPY workers ./workers
RUN pip install . \
 && useradd --create-home --uid 10001 paxos \
 && mkdir -p /ledgers \
 && chown paxos /ledgers

# A fresh named volume mounted at /ledgers starts with this directory's owner, so the
# priests (not root) can create and lock their ledgers there.
USER paxos
VOLUME ["/ledgers"]
ENV PAXOS_LEDGER_DIR=/ledgers

CMD ["paxos-redis", "--help"]
