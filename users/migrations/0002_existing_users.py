"""Users who existed before roles could do everything: superusers become administrators and
the others operators (no user management), so an upgrade takes nobody's work away."""

from django.conf import settings
from django.db import migrations


def give_roles(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Profile = apps.get_model("users", "Profile")
    for user in User.objects.filter(profile__isnull=True):
        role = "administrator" if user.is_superuser else "operator"
        Profile.objects.create(user=user, role=role)


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [migrations.RunPython(give_roles, migrations.RunPython.noop)]
