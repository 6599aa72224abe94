"""Test settings: the app's own settings with all data in a temporary directory.

DATA_DIR is put in the environment so the Celery workers the tests start (with the app's own
settings module) share the same keys and test database file.
"""

import atexit
import os
import shutil
import tempfile


def _remove_when_done(path: str, owner: int) -> None:
    # Only the process that made the directory removes it, when it ends: the servers and
    # worker processes the tests start inherit DATA_DIR and must not take it away.
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


if "DATA_DIR" not in os.environ:
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bw-test-data-")
    atexit.register(_remove_when_done, os.environ["DATA_DIR"], os.getpid())

from backupweb.settings import *  # noqa: E402,F403
from backupweb.settings import DATA_DIR, DATABASES, STORAGES  # noqa: E402

# A file, not :memory:, so worker processes can open the same test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Static files straight from the source folders: the tests never run collectstatic, which the
# default (hashed, manifest) storage needs once DEBUG is off.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = True
