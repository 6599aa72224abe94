"""`manage.py acknowledge_warning [RUN ...]`: list or acknowledge mass-deletion warnings.

The command line's "Acknowledge" button on the dashboard: without a run id it lists the
warnings not acknowledged yet; with run ids it acknowledges them (audited, like the button).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

import audit
from jobs import dashboard
from jobs.models import JobRun


class Command(BaseCommand):
    help = "List the mass-deletion warnings not acknowledged yet, or acknowledge runs' warnings."

    def add_arguments(self, parser) -> None:
        parser.add_argument("runs", nargs="*", type=int, help="run ids to acknowledge")

    def handle(self, *args, runs: list[int], **options) -> None:
        if not runs:
            for problem in dashboard.mass_deletions():
                self.stdout.write(f"run #{problem.run.pk} {problem.account.name}: {problem.text}")
            return
        for pk in runs:
            run = JobRun.objects.filter(pk=pk).first()
            if run is None:
                raise CommandError(f"No run #{pk}.")
            if dashboard.acknowledge(run):
                audit.record("command line", "run.acknowledge_warning", run, account=run.account_id)
                self.stdout.write(f"Run #{pk}: warning acknowledged.")
            else:
                self.stdout.write(f"Run #{pk}: no warning to acknowledge.")
