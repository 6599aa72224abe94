"""Test settings: the app's own settings with all data in a temporary directory.

DATA_DIR is put in the environment so the Celery workers the tests start (with the app's own
settings module) share the same keys and test database file.
"""

import os
import tempfile

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bw-test-data-"))

from backupweb.settings import *  # noqa: E402,F403
from backupweb.settings import DATA_DIR, DATABASES  # noqa: E402

# A file, not :memory:, so worker processes can open the same test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
