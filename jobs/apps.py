from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self) -> None:
        from jobs import bulk, signals  # noqa: F401  (connect the schedule sync, bulk rows)
