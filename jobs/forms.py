"""The job form: schedule fields, BackupOptions as plain fields, write-only notification URLs."""

from __future__ import annotations

import apprise
from django import forms

from jobs import schedules
from jobs.models import Job

WEEKDAY_CHOICES = [(str(i), name) for i, name in enumerate(schedules.DAY_NAMES)]
MB = 1024 * 1024


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class JobForm(forms.ModelForm):
    weekdays = forms.MultipleChoiceField(
        choices=WEEKDAY_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )
    folders = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Only these folders, one per line. Empty: all folders.",
    )
    include = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Folder name patterns to include, one per line (e.g. Projects/*).",
    )
    exclude = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Folder name patterns to leave out, one per line.",
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    max_message_size_mb = forms.IntegerField(
        label="Skip messages larger than (MB)", min_value=1, required=False
    )
    skip_trash_and_junk = forms.BooleanField(required=False)
    notify_urls = forms.CharField(
        label="Notification URLs (Apprise)",
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        required=False,
        help_text="One per line, e.g. mailto://user:pass@smtp.example.org?to=me@example.org or "
        "json://hooks.example.org/backup. Stored encrypted and never shown again: leave empty "
        "to keep the current ones. Without any, the site default is used.",
    )
    clear_notify_urls = forms.BooleanField(
        label="Remove this job's URLs (use the site default)", required=False
    )

    class Meta:
        model = Job
        fields = [
            "name",
            "kind",
            "account",
            "schedule",
            "interval_hours",
            "time_of_day",
            "weekdays",
            "cron",
            "enabled",
            "notify_on_failure",
            "notify_on_parked",
            "notify_on_auth_failure",
            "notify_on_success",
            "notify_stale_days",
        ]
        widgets = {"time_of_day": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}
        help_texts = {"cron": "minute hour day month weekday, e.g. 30 2 * * 1-5"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Sync and restore have their own forms (jobs/forms_transfer.py); a verify job (test the
        # backup: jobs/engine/verify.py) takes the same schedule and notifications as a backup.
        self.fields["kind"].choices = [
            (Job.Kind.BACKUP, Job.Kind.BACKUP.label),
            (Job.Kind.VERIFY, "Verify (test the backup)"),
        ]
        self.fields["weekdays"].initial = [str(d) for d in (self.instance.weekdays or [])]
        options = self.instance.options or {}
        for name in ("folders", "include", "exclude"):
            self.fields[name].initial = "\n".join(options.get(name) or [])
        for name in ("since", "before", "skip_trash_and_junk"):
            self.fields[name].initial = options.get(name)
        if options.get("max_message_size"):
            self.fields["max_message_size_mb"].initial = options["max_message_size"] // MB

    def clean_weekdays(self) -> list[int]:
        return sorted(int(d) for d in self.cleaned_data["weekdays"])

    def clean_notify_urls(self) -> list[str]:
        urls = lines_of(self.cleaned_data["notify_urls"])
        for number, url in enumerate(urls, start=1):
            if not apprise.Apprise().add(url):
                raise forms.ValidationError(
                    f"Line {number} is not a notification URL Apprise understands."
                )
        return urls

    def clean(self) -> dict:
        data = super().clean()
        schedule = data.get("schedule")
        need = {
            Job.Schedule.INTERVAL: ("interval_hours", "How many hours between runs?"),
            Job.Schedule.DAILY: ("time_of_day", "At what time?"),
            Job.Schedule.WEEKLY: ("time_of_day", "At what time?"),
            Job.Schedule.CRON: ("cron", "Enter a cron expression."),
        }
        if schedule in need and not data.get(need[schedule][0]):
            self.add_error(need[schedule][0], need[schedule][1])
        if schedule == Job.Schedule.WEEKLY and not data.get("weekdays"):
            self.add_error("weekdays", "Choose at least one day.")
        if schedule == Job.Schedule.CRON and data.get("cron"):
            try:
                schedules.parse_cron(data["cron"])
            except ValueError as exc:
                self.add_error("cron", str(exc) or "Not a valid cron expression.")
        return data

    def options_json(self) -> dict:
        data = self.cleaned_data
        size = data.get("max_message_size_mb")
        return {
            "folders": lines_of(data["folders"]) or None,
            "include": lines_of(data["include"]),
            "exclude": lines_of(data["exclude"]),
            "since": data["since"].isoformat() if data.get("since") else None,
            "before": data["before"].isoformat() if data.get("before") else None,
            "max_message_size": size * MB if size else None,
            "skip_trash_and_junk": bool(data.get("skip_trash_and_junk")),
        }

    def save(self, commit: bool = True) -> Job:
        job = super().save(commit=False)
        job.options = self.options_json()
        if self.cleaned_data.get("clear_notify_urls"):
            job.set_notify_urls([])
        elif self.cleaned_data["notify_urls"]:
            job.set_notify_urls(self.cleaned_data["notify_urls"])
        if commit:
            job.save()
        return job
