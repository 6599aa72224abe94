from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from django.contrib import admin

        from backupweb.access import is_administrator

        # The Django admin site is for administrators (by role), not for any staff flag.
        admin.site.has_permission = lambda request: is_administrator(request.user)
