"""compose.yaml, the Dockerfile and .env.example stay true to the code (Docker can't run here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

BASE_DIR = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((BASE_DIR / "compose.yaml").read_text())
APP_SERVICES = ("migrate", "web", "worker", "beat")


def service_commands(name: str) -> list[list[str]]:
    command = COMPOSE["services"][name]["command"]
    if command[:2] == ["sh", "-c"]:
        return [part.split() for part in command[2].split("&&")]
    return [command]


def check_command(argv: list[str]) -> None:
    """Each command names something that exists in this project."""
    program, args = argv[0], argv[1:]
    if program == "gunicorn":
        module, _, attr = args[0].partition(":")
        assert hasattr(__import__(module, fromlist=[attr]), attr)
    elif program == "celery":
        assert args[:2] == ["-A", "backupweb"] and args[2] in ("worker", "beat")
        assert __import__("backupweb").celery_app.main == "backupweb"
    elif program == "python" and args[0] == "manage.py":
        assert args[1] in get_commands(), f"no manage.py command {args[1]}"
    else:
        pytest.fail(f"unknown program in compose.yaml: {argv}")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_service_runs_a_command_that_exists(name):
    for argv in service_commands(name):
        check_command(argv)


def test_the_stack_has_web_worker_beat_redis_and_postgres_with_named_volumes():
    services = COMPOSE["services"]
    assert {"web", "worker", "beat", "redis", "postgres"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    assert set(COMPOSE["volumes"]) == {"archive", "redis", "postgres"}
    for name in APP_SERVICES:
        assert "archive:/data" in services[name]["volumes"]


def test_the_dockerfile_copies_files_that_exist_and_runs_gunicorn():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert source == "." or (BASE_DIR / source).exists()
    assert '"gunicorn", "backupweb.wsgi:application"' in dockerfile


def test_env_example_documents_every_setting_the_code_reads():
    settings_source = (BASE_DIR / "backupweb" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_source))
    read |= set(re.findall(r'(?:env_secret|required_secret)\(\s*"([A-Z_]+)"', settings_source))
    example = (BASE_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^#?([A-Z_]+)=", example, re.M))
    assert read, "found no settings read from the environment"
    assert read - documented == set()
