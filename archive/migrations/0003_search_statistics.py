# PostgreSQL only: finer statistics on the search document, so the planner can tell a rare word
# (use the GIN index, then sort the few matches) from a common one (walk the newest messages
# and stop after a page): with the default target a rare word looked common.

from django.db import migrations

from archive.vendorsql import VendorRunSQL


class Migration(migrations.Migration):
    dependencies = [("archive", "0002_conversations_and_search")]

    operations = [
        VendorRunSQL(
            "postgresql",
            ["ALTER TABLE archive_search ALTER COLUMN document SET STATISTICS 2000"],
            ["ALTER TABLE archive_search ALTER COLUMN document SET STATISTICS -1"],
        ),
    ]
