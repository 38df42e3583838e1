"""The container files: docker-compose.yml validates and wires the stack, the Dockerfile is sane.

No Docker engine is needed: `docker-compose config` only parses, interpolates and validates.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
TEST_SECRET_KEY = "compose-test-secret-key"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Result:
    """Exit status and output of one command."""

    returncode: int
    stdout: str
    stderr: str


def docker_compose(*args: str, secret_key: str | None = TEST_SECRET_KEY) -> Result:
    """Run `docker-compose -f docker-compose.yml ARGS` with a minimal environment."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is not installed: `make test` installs it (Makefile target "
            "test-deps), or install Debian's docker-compose package"
        )
    # Only what the tool needs, so variables of the caller's shell cannot change the result.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    completed = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def service_blocks(config: str) -> dict[str, str]:
    """Split the normalised `config` output into the text of each service."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_services = False
    for line in config.splitlines():
        if line and not line.startswith(" "):
            in_services = line.rstrip() == "services:"
            current = None
        elif in_services and re.fullmatch(r"  [A-Za-z0-9_.-]+:", line):
            current = blocks.setdefault(line.strip().rstrip(":"), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in blocks.items()}


@pytest.fixture(scope="module")
def services() -> dict[str, str]:
    """The validated compose configuration, one text block per service."""
    result = docker_compose("config")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return service_blocks(result.stdout)


def test_compose_file_defines_redis_mongo_app_and_worker(services: dict[str, str]) -> None:
    """Outside any profile (what `docker-compose up` starts) there are exactly four services."""
    assert sorted(name for name, text in services.items() if "profiles:" not in text) == [
        "app",
        "mongo",
        "redis",
        "worker",
    ]


@pytest.fixture(scope="module")
def scale() -> dict[str, str]:
    """The scale profile's services (docker-compose --profile scale config), validated."""
    result = docker_compose("--profile", "scale", "config")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return {
        name: text
        for name, text in service_blocks(result.stdout).items()
        if re.search(r"profiles:\n\s*- scale", text)
    }


def test_scale_profile_has_a_redis_cluster_a_replica_set_three_apps_and_haproxy(
    scale: dict[str, str],
) -> None:
    """6 Redis nodes and their one-shot init, 3 mongods and theirs, 3 apps, HAProxy, workers."""
    assert sorted(scale) == sorted(
        [f"scale-redis-{i}" for i in range(1, 7)]
        + [f"scale-mongo-{i}" for i in range(1, 4)]
        + [f"scale-app-{i}" for i in range(1, 4)]
        + ["scale-redis-init", "scale-mongo-init", "scale-haproxy", "scale-worker"]
    )
    for i in range(1, 7):
        assert "--cluster-enabled yes" in scale[f"scale-redis-{i}"]
    init = " ".join(scale["scale-redis-init"].split())
    assert "--cluster create" in init and "--cluster-replicas 1" in init
    assert all(f"scale-redis-{i}:6379" in init for i in range(1, 7))
    for i in range(1, 4):
        assert "--replSet\n    - rs0" in scale[f"scale-mongo-{i}"]
    mongo_init = " ".join(scale["scale-mongo-init"].split())
    assert "rs.initiate" in mongo_init
    assert all(f"scale-mongo-{i}:27017" in mongo_init for i in range(1, 4))


def test_scale_apps_run_on_the_cluster_and_the_replica_set_once_both_are_set_up(
    scale: dict[str, str],
) -> None:
    """Each app and the workers name the cluster and the replica set (majority writes) and
    start only after both one-shot inits completed."""
    for name in ("scale-app-1", "scale-app-2", "scale-app-3", "scale-worker"):
        text = scale[name]
        assert "REDIS_URL: redis+cluster://scale-redis-1:6379," in text
        assert "replicaSet=rs0" in text and "w=majority" in text and "retryWrites=true" in text
        for init in ("scale-redis-init", "scale-mongo-init"):
            assert re.search(rf"{init}:\n\s*condition: service_completed_successfully", text)
    assert "/readyz" in scale["scale-app-1"]
    assert "replicas: 2" in scale["scale-worker"]


def test_scale_haproxy_uses_the_repo_config_in_front_of_the_three_apps(
    scale: dict[str, str],
) -> None:
    """HAProxy mounts deploy/haproxy.cfg, publishes 4820 and is told the three apps."""
    haproxy = scale["scale-haproxy"]
    assert "deploy/haproxy.cfg" in haproxy and "/usr/local/etc/haproxy/haproxy.cfg" in haproxy
    assert "published: 4820" in haproxy
    for i in range(1, 4):
        assert f"CHAT_APP{i}: scale-app-{i}:4810" in haproxy
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "uri /readyz" in config and "balance leastconn" in config
    assert "timeout tunnel" in config and "option redispatch" in config


def test_jobs_run_in_the_worker_service_not_in_the_app(services: dict[str, str]) -> None:
    """The worker runs `runworker` against the same stores after they are healthy; the app's
    runchat starts no job worker of its own."""
    worker = services["worker"]
    assert "manage.py" in worker and "runworker" in worker
    for line in ("REDIS_URL: redis://redis:6379/0", "MONGO_URL: mongodb://mongo:27017/"):
        assert line in worker and line in services["app"]
    for name in ("redis", "mongo"):
        assert re.search(rf"{name}:\n\s*condition: service_healthy", worker)
    assert "CHAT_JOB_WORKER_IN_RUNCHAT: '0'" in services["app"]
    assert "ports:" not in worker


def test_app_publishes_port_4810(services: dict[str, str]) -> None:
    """The chat is reachable on the host's port 4810."""
    assert "published: 4810" in services["app"]
    assert "target: 4810" in services["app"]


def test_redis_persists_with_append_only_file(services: dict[str, str]) -> None:
    """Redis keeps seq counters and other state across restarts (AOF on a volume)."""
    redis = services["redis"]
    assert "image: redis:7" in redis
    assert re.search(r"- --appendonly\n\s*- \"?yes\"?", redis), redis
    assert re.search(r"- redis-data:/data", redis), redis


def test_mongo_keeps_data_on_a_volume(services: dict[str, str]) -> None:
    """MongoDB, the source of truth, stores its files on a named volume."""
    assert "image: mongo:7" in services["mongo"]
    assert "- mongo-data:/data/db" in services["mongo"]


def test_app_starts_after_redis_and_mongo_are_healthy(services: dict[str, str]) -> None:
    """The app waits for both healthchecks, so its first requests find its services up."""
    for name in ("redis", "mongo"):
        assert "healthcheck:" in services[name]
        assert re.search(rf"{name}:\n\s*condition: service_healthy", services["app"])
    assert "redis-cli ping" in services["redis"]
    assert "mongosh" in services["mongo"]


def test_app_health_is_its_readiness_probe(services: dict[str, str]) -> None:
    """docker-compose marks the app unhealthy while /readyz says Redis or MongoDB is down."""
    assert "healthcheck:" in services["app"]
    assert "/readyz" in services["app"]


def test_app_environment_points_at_the_compose_services(services: dict[str, str]) -> None:
    """The app talks to the redis and mongo services, runs with DEBUG off and the given key."""
    app = services["app"]
    for line in (
        "REDIS_URL: redis://redis:6379/0",
        "MONGO_URL: mongodb://mongo:27017/",
        "DEBUG: '0'",
        f"SECRET_KEY: {TEST_SECRET_KEY}",
        "ALLOWED_HOSTS: localhost,127.0.0.1",
        "DATABASE_URL: sqlite:",
    ):
        assert line in app, f"{line!r} missing from the app service:\n{app}"
    assert "manage.py runchat" in app


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    """Without SECRET_KEY in the environment the configuration is rejected, with the reason."""
    result = docker_compose("config", secret_key=None)
    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_dockerfile_runs_as_a_non_root_user() -> None:
    """The final USER is a non-root account."""
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert users, "the Dockerfile has no USER instruction"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_collects_static_files_without_baking_a_key() -> None:
    """collectstatic runs at build with DEBUG=0; the dummy key is never an ENV or ARG."""
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.MULTILINE)
    assert re.search(r"^RUN DEBUG=0 SECRET_KEY=\S+ python manage\.py collectstatic", text, re.M)
    assert not re.search(r"^(ENV|ARG)\b[^\n]*SECRET_KEY", text, flags=re.MULTILINE)
    assert re.search(r"^EXPOSE 4810\b", text, flags=re.MULTILINE)
    assert "CHAT_HOST=0.0.0.0" in text
    cmd = re.findall(r"^CMD .*$", text, flags=re.MULTILINE)
    assert cmd and "migrate" in cmd[-1] and "runchat" in cmd[-1]


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    """The virtualenv, local data and git history never enter the build context."""
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", "var", ".git", "**/__pycache__"} <= patterns


def test_build_time_collectstatic_succeeds(tmp_path: Path) -> None:
    """The Dockerfile's collectstatic step works: DEBUG=0, a dummy key, hashed files + manifest."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "build-only-not-a-secret",
        "STATIC_ROOT": str(tmp_path / "static"),
        "CHAT_VAR_DIR": str(tmp_path / "var"),
    }
    completed = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()
    assert (tmp_path / "static" / "chat" / "app.js").is_file()
