"""Settings come from the environment; production refuses to run on default secrets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
FERNET_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Import the real settings module in a clean process with only the given environment."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "DJANGO_SETTINGS_MODULE")}
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='backupweb.settings'; "
        "from django.conf import settings; django.setup(); "
        "print(settings.DATABASES['default']['ENGINE'], settings.DEBUG, len(settings.FERNET_KEYS))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**clean, "DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
    )


def test_development_defaults_to_sqlite_and_generates_private_keys(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "False", "1"]
    for name in ("secret_key", "fernet_keys"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


def test_generated_keys_are_reused_on_the_next_start(tmp_path):
    load_settings(tmp_path)
    first = (tmp_path / "fernet_keys").read_text()
    load_settings(tmp_path)
    assert (tmp_path / "fernet_keys").read_text() == first


def test_production_without_a_secret_key_is_an_error(tmp_path):
    result = load_settings(tmp_path, PRODUCTION="true", FERNET_KEYS=FERNET_KEY)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when PRODUCTION=true" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_without_fernet_keys_is_an_error(tmp_path):
    result = load_settings(tmp_path, PRODUCTION="true", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "FERNET_KEYS must be set" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "fernet"
    secret_file.write_text(f"{FERNET_KEY},{FERNET_KEY}\n")
    result = load_settings(
        tmp_path, PRODUCTION="true", SECRET_KEY="x" * 50, FERNET_KEYS_FILE=str(secret_file),
        ALLOWED_HOSTS="backup.example.org",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "False", "2"]


def test_database_url_switches_to_postgresql(tmp_path):
    result = load_settings(tmp_path, DATABASE_URL="postgres://u:p@db.example:5432/bw")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.db.backends.postgresql"


def test_an_empty_data_dir_means_the_default_not_the_current_directory(tmp_path):
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='backupweb.settings'; "
        "from django.conf import settings; print(settings.DATA_DIR)"
    )
    clean = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env = {**clean, "DATA_DIR": "", "PYTHONPATH": str(BASE_DIR)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(BASE_DIR / "data")
    assert list(tmp_path.iterdir()) == []  # no key files in the working directory


def archive_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """The archive settings as a clean process reads them from `env`."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "S3_", "ARCHIVE_", "DATA_DIR", "DJANGO_SETTINGS"))
    }
    code = (
        "import django, json, os; os.environ['DJANGO_SETTINGS_MODULE']='backupweb.settings'; "
        "from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.ARCHIVE_URL, str(settings.ARCHIVE_ROOT), settings.ARCHIVE_S3]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**clean, "DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
    )


def test_archive_url_picks_object_storage_with_credentials_from_the_standard_variables(tmp_path):
    import json

    secret = tmp_path / "s3_secret"
    secret.write_text("from-a-mounted-file\n")
    result = archive_settings(
        tmp_path,
        ARCHIVE_URL="s3://mail-archive/backupweb",
        S3_ENDPOINT_URL="http://10.0.0.9:8333",
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY_FILE=str(secret),
        AWS_DEFAULT_REGION="eu-central-1",
    )
    assert result.returncode == 0, result.stderr
    url, _root, s3 = json.loads(result.stdout)
    assert url == "s3://mail-archive/backupweb"
    assert s3 == {
        "endpoint_url": "http://10.0.0.9:8333",
        "access_key": "AKIDEXAMPLE",
        "secret_key": "from-a-mounted-file",
        "region": "eu-central-1",
        "addressing_style": "path",
    }


def test_a_file_archive_url_sets_the_archive_root_and_other_schemes_are_refused(tmp_path):
    import json

    result = archive_settings(tmp_path, ARCHIVE_URL=f"file://{tmp_path}/blobs")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[1] == f"{tmp_path}/blobs"
    refused = archive_settings(tmp_path, ARCHIVE_URL="ftp://archive.example.org/x")
    assert refused.returncode != 0 and "ARCHIVE_URL must start with file:// or s3://" in (
        refused.stderr
    )
