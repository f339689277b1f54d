"""``compose.yaml`` and ``Dockerfile``: valid, complete, and their commands really run.

Docker's engine is not needed: the file is validated with ``docker-compose config`` when
that binary exists, always parsed with PyYAML and checked, and then every service's
command is run EXACTLY as the file states it, as local processes, with the file's
environment (``${VAR:-default}`` substituted), REDIS_URL pointed at a ``redis-server``
this test starts and PAXOS_LEDGER_DIR at one shared directory (the ``ledgers`` volume).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis_server import RedisServer

from paxos_redis.citizen.client import Client
from paxos_redis.messengers.heartbeat import read_roster
from paxos_redis.messengers.keys import Keys
from paxos_redis.protocol.records import Identity, Promise, Votes
from paxos_redis.runtime import settings as settings_module
from paxos_redis.storage.ledger import law_lines, replay

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
PAXOS_SERVICES = ("god", "priest", "petitions")
SETTINGS_ENV = {"REDIS_URL", "PAXOS_PARLIAMENT", "PAXOS_PRIESTS", "PAXOS_LEDGER_DIR",
                "PAXOS_SECRET"}
#: what ``${...}`` in the file is substituted from (as compose reads the shell or .env)
SHELL = {"PAXOS_PARLIAMENT": "composed", "PAXOS_SECRET": "s3cret"}
_VAR = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's substitution: ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``$$``."""
    def one(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name = match[1] or match[3]
        default = match[2] or ""
        if ":-" in match[0]:
            return env.get(name) or default
        return env.get(name, default)
    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: interpolate(str(v), SHELL) for k, v in raw.items()}


# ------------------------------------------------------------------ (i) the file itself

def test_docker_compose_config_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run([binary, "-f", str(COMPOSE), "config", "--quiet"], cwd=REPO,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, **SHELL})
    assert result.returncode == 0, result.stderr


def test_services_env_volume_and_scale(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", *PAXOS_SERVICES}
    redis = services["redis"]
    assert str(redis["image"]).startswith("redis:7")
    assert redis["command"] == ["redis-server", "--save", "", "--appendonly", "no"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name in PAXOS_SERVICES:
        service, env = services[name], environment(services[name])
        assert {"REDIS_URL", "PAXOS_PARLIAMENT"} <= set(env), name
        assert ("PAXOS_PRIESTS" in env) == (name == "god"), "only the god counts voters"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["PAXOS_PARLIAMENT"] == "composed", "PAXOS_PARLIAMENT comes from the shell"
        assert set(env) <= SETTINGS_ENV | {"PAXOS_QUEUE"}, name
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["god"]["command"] == ["paxos-redis", "god", "--remove-after",
                                          "${PAXOS_REMOVE_AFTER:-30}"]
    assert environment(services["god"])["PAXOS_PRIESTS"] == "5"
    priest = services["priest"]
    assert priest["command"] == ["paxos-redis", "priest"]
    assert priest["volumes"] == ["ledgers:/ledgers"] and "ledgers" in compose["volumes"]
    assert environment(priest)["PAXOS_LEDGER_DIR"] == "/ledgers"
    assert priest["deploy"]["replicas"] == 5 == int(environment(services["god"])["PAXOS_PRIESTS"])
    assert "--scale priest=" in COMPOSE.read_text()
    assert services["petitions"]["command"] == ["python", "workers/petitions.py"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert services["petitions"]["working_dir"] == "/app" and "WORKDIR /app" in dockerfile


def test_env_names_are_the_ones_the_code_reads(compose: dict[str, Any]) -> None:
    settings_source = inspect.getsource(settings_module)
    petitions_source = (REPO / "workers" / "petitions.py").read_text()
    for name in PAXOS_SERVICES:
        for var in environment(compose["services"][name]):
            source = petitions_source if var == "PAXOS_QUEUE" else settings_source
            assert f'"{var}"' in source, f"{name}: {var} is read by nothing"


def test_dockerfile_builds_from_python_slim_with_pip_install() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"pip install \.", text)
    for path in ("paxos_redis", "workers", "pyproject.toml"):
        assert path in text


# ------------------------------------------------------------------ (ii) its commands, run

def local_argv(argv: list[str]) -> list[str]:
    """The file's command, with its program found here (the image's PATH holds both) and
    ``${...}`` substituted as compose does."""
    program = {"python": sys.executable,
               "paxos-redis": str(Path(sys.executable).with_name("paxos-redis"))}
    return [program.get(argv[0], argv[0]), *(interpolate(arg, SHELL) for arg in argv[1:])]


class Services:
    """The compose services as local processes; :meth:`close` ends every one."""

    def __init__(self, compose: dict[str, Any], redis_url: str, ledgers: Path,
                 logs: Path) -> None:
        self.compose, self.redis_url, self.ledgers, self.logs = compose, redis_url, ledgers, logs
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        logs.mkdir(parents=True, exist_ok=True)

    def env(self, name: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("PAXOS_") and k != "REDIS_URL"}
        return {**base, **environment(self.compose["services"][name]),
                "REDIS_URL": self.redis_url, "PAXOS_LEDGER_DIR": str(self.ledgers)}

    def cwd(self, name: str) -> Path:
        """The image's /app (WORKDIR, and any working_dir) holds what REPO holds here."""
        assert self.compose["services"][name].get("working_dir", "/app") == "/app"
        return REPO

    def start(self, name: str) -> subprocess.Popen[bytes]:
        argv = local_argv(self.compose["services"][name]["command"])
        with open(self.logs / f"{name}-{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen(argv, env=self.env(name), cwd=self.cwd(name),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.procs.append((name, proc))
        return proc

    def healthcheck(self, name: str) -> subprocess.CompletedProcess[str]:
        test = self.compose["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD"
        return subprocess.run(local_argv(test[1:]), env=self.env(name), cwd=self.cwd(name),
                              capture_output=True, text=True, timeout=30)

    def stop(self, name: str) -> list[int]:
        procs = [p for n, p in self.procs if n == name]
        for proc in procs:
            proc.terminate()
        return [proc.wait(20) for proc in procs]

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-1500:]}"
                         for p in sorted(self.logs.glob("*.log")))

    def close(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def services(compose: dict[str, Any], redis_server: RedisServer,
             tmp_path: Path) -> Iterator[Services]:
    running = Services(compose, redis_server.url, tmp_path / "ledgers", tmp_path / "logs")
    try:
        yield running
    finally:
        running.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             explain: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{explain()}"
        time.sleep(0.05)
    return got


def test_the_compose_services_run_as_written(services: Services, redis_server: RedisServer,
                                             compose: dict[str, Any]) -> None:
    """God, five priest replicas on one volume, the rq worker: the god founds the parliament
    with the five, each a priest of its own ledger; a sixth replica (``--scale priest=6``)
    listens; citizens and an rq job pass decrees; every ledger holds one law."""
    from rq import Queue

    keys = Keys(SHELL["PAXOS_PARLIAMENT"])
    voters = int(environment(compose["services"]["god"])["PAXOS_PRIESTS"])
    replicas = compose["services"]["priest"]["deploy"]["replicas"]
    redis = redis_server.client()
    services.start("god")
    priests = {services.start("priest").pid for _ in range(replicas)}
    services.start("petitions")

    def founded() -> dict[int, int] | None:
        beats = read_roster(redis, keys)
        pids = {priest: beat.pid for priest, beat in beats.items()}
        ready = any(b.president for b in beats.values()) and all(
            b.role == "voter" for b in beats.values())
        return pids if ready and set(pids.values()) == priests else None

    pids = wait_for(founded, 30, "the god to found the parliament with the 5 priest processes "
                    "and a president", services.tails)
    assert len(pids) == voters == 5
    sixth = services.start("priest")                 # docker compose up --scale priest=6
    wait_for(lambda: any(b.pid == sixth.pid and b.role == "listener"
                         for b in read_roster(redis, keys).values()), 20,
             "the sixth replica to listen", services.tails)

    with Client.from_url(redis_server.url, parliament=keys.parliament) as client:
        told = dict(zip([f"citizen {i}" for i in range(20)],
                        client.petition_many([f"citizen {i}" for i in range(20)], 20),
                        strict=True))
    queue_name = environment(compose["services"]["petitions"])["PAXOS_QUEUE"]
    job = Queue(queue_name, connection=redis).enqueue("paxos_redis.citizen.jobs.pass_decree",
                                                      "through rq")
    wait_for(lambda: job.get_status(refresh=True) in ("finished", "failed"), 40,
             "the rq job", services.tails)
    assert job.get_status() == "finished", job.latest_result()
    told["through rq"] = job.return_value()

    for name in PAXOS_SERVICES:                 # the health checks pass on the live system
        check = services.healthcheck(name)
        assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"

    top = max(told.values())
    wait_for(lambda: len(beats := read_roster(redis, keys)) == 6 and all(
        b.known > top for b in beats.values()), 20, "every priest to learn the law",
        services.tails)
    assert services.stop("priest") == [0] * 6
    ledgers = sorted(services.ledgers.glob("*.ledger"))
    assert len(ledgers) == 6, "one volume, a ledger for each replica"
    records = {path: replay(path, path.read_bytes())[0] for path in ledgers}
    identities = {r[0].priest: path for path, r in records.items() if isinstance(r[0], Identity)}
    assert len(identities) == 6 and set(pids) < set(identities)
    listener = (set(identities) - set(pids)).pop()
    assert not [r for r in records[identities[listener]] if isinstance(r, (Promise, Votes))], \
        "the sixth replica voted"
    laws = [law_lines(r) for r in records.values()]
    assert all(law == laws[0] for law in laws), "the priests' laws differ"
    assert sorted(laws[0]) == sorted(f"{n},{body}" for body, n in told.items())
