"""The project's ``compose.yaml`` on a real Docker engine, driven through ``docker-compose``.

:class:`ComposeProject` runs the file under a project name of its own (so it never touches
another deployment), with one small override that publishes Redis on a free loopback port
so the test can be a citizen from this host, and removes everything (containers, the
ledgers volume) when closed.  :func:`docker_missing` says in one line why Docker cannot
run here, or None.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGES = ("python:3.11-slim", "redis:7")
#: publishes Redis on 127.0.0.1 (a port Docker picks) for the test's citizens
OVERRIDE = """\
services:
  redis:
    ports: ["127.0.0.1::6379"]
"""


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def docker_missing() -> str | None:
    """Why ``docker-compose`` cannot run the file here (one line), or None if it can."""
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        return "docker and docker-compose are not installed (.ci/run installs them)"
    try:
        if _run(["docker", "info"], 30).returncode != 0:
            return "no Docker engine answers (start dockerd, e.g. with docker-offline-images)"
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer within 30 s"
    for image in IMAGES:
        if _run(["docker", "image", "inspect", image]).returncode != 0 and \
                _run(["docker", "pull", image], 300).returncode != 0:
            return f"image {image} is neither here nor pullable (docker-offline-images builds it)"
    return None


class ComposeProject:
    """``docker-compose -p <name> -f compose.yaml -f <override>`` with its environment."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.name = f"paxostest{secrets.token_hex(4)}"
        override = workdir / "compose.test.yaml"
        override.write_text(OVERRIDE)
        self.base = ["docker-compose", "-p", self.name, "--project-directory", str(REPO),
                     "-f", str(REPO / "compose.yaml"), "-f", str(override)]
        self.env = {**{k: v for k, v in os.environ.items()
                       if not k.startswith(("PAXOS_", "COMPOSE_")) and k != "REDIS_URL"},
                    **env}

    def run(self, *args: str, timeout: float = 300) -> str:
        """One ``docker-compose`` command; its stdout, or AssertionError with its output."""
        done = subprocess.run([*self.base, *args], env=self.env, cwd=REPO, capture_output=True,
                              text=True, timeout=timeout, check=False)
        assert done.returncode == 0, (f"docker-compose {' '.join(args)} failed "
                                      f"({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def scale(self, priests: int) -> None:
        self.run("up", "-d", "--no-build", "--scale", f"priest={priests}")

    def redis_url(self) -> str:
        host, _, port = self.run("port", "redis", "6379").strip().rpartition(":")
        return f"redis://{host}:{port}/0"

    def containers(self, service: str) -> list[dict[str, object]]:
        """``docker inspect`` of every container of ``service`` (running or not)."""
        ids = _run(["docker", "ps", "-aq", "--no-trunc",
                    "--filter", f"label=com.docker.compose.project={self.name}",
                    "--filter", f"label=com.docker.compose.service={service}"]).stdout.split()
        if not ids:
            return []
        return list(json.loads(_run(["docker", "inspect", *ids]).stdout))

    def hostnames(self, service: str) -> dict[str, str]:
        """Running containers of ``service``: hostname (as priests beat it) -> container id."""
        return {c["Config"]["Hostname"]: c["Id"] for c in self.containers(service)  # type: ignore[index]
                if c["State"]["Running"]}  # type: ignore[index]

    def ledger_laws(self) -> dict[str, list[str]]:
        """Every ledger file in the ``ledgers`` volume -> its law (``paxos-redis ledger --law``),
        read by a one-off priest container."""
        script = ('for f in /ledgers/*.ledger; do echo "== $f"; '
                  'paxos-redis ledger --file "$f" --law || exit 1; done')
        out = self.run("run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "priest", "-c",
                       script)
        laws: dict[str, list[str]] = {}
        current: list[str] = []
        for line in out.splitlines():
            if line.startswith("== "):
                current = laws.setdefault(line[3:], [])
            elif line:
                current.append(line)
        return laws

    def logs(self, tail: int = 40) -> str:
        try:
            return self.run("logs", "--no-color", "--tail", str(tail), timeout=60)
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            return f"(no logs: {exc})"

    def close(self) -> None:
        subprocess.run([*self.base, "down", "-v", "--remove-orphans", "-t", "5"], env=self.env,
                       cwd=REPO, capture_output=True, timeout=180, check=False)
