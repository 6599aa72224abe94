"""`manage.py run_job JOB`: run a job from the command line or cron, like "Run now".

By default the run executes in this process (`jobs.runner.run_here`: recorded, leased and audited
like any run) and the exit status says how it went (0 succeeded, 1 anything else); a busy account
exits 1 naming the run that holds it, or is waited for with --wait; --queue hands the run to the
workers instead.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from jobs import runner
from jobs.models import Job, JobRun


class Command(BaseCommand):
    help = "Run a job now (by id or name) and report how it went."

    def add_arguments(self, parser) -> None:
        parser.add_argument("job", help="job id or exact name")
        parser.add_argument("--queue", action="store_true", help="queue it for the workers")
        parser.add_argument("--wait", action="store_true", help="wait while the account is busy")

    def handle(self, *args, job: str, queue: bool, **options) -> None:
        found = Job.objects.filter(name=job).first()
        if found is None and job.isdigit():
            found = Job.objects.filter(pk=int(job)).first()
        if found is None:
            raise CommandError(f"No job with id or name {job!r}.")
        if queue:
            run, created = runner.trigger(found, JobRun.Trigger.COMMAND)
            verb = "Queued" if created else "Already queued:"
            self.stdout.write(f"{verb} run #{run.pk} of {found.name}.")
            return
        try:
            result = runner.run_here(found, wait=options["wait"])
        except runner.AccountBusy as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Run #{result.pk} {result.state}. {result.summary or result.error}")
        if result.state != JobRun.State.SUCCEEDED:
            raise SystemExit(1)
