"""Jobs and runs over the API: defined through the job form, started and cancelled through
jobs.runner (the one run lifecycle), read with their per-folder progress."""

from __future__ import annotations

from django.urls import reverse

from audit.models import AuditEvent
from jobs.models import Job, JobRun
from tests.helpers.api import api_client


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def test_an_operator_defines_a_daily_backup_job_through_the_job_forms_rules(world):
    client = api_client(world["tokens"]["oscar"])
    body = {"name": "Nightly", "kind": "backup", "account": world["granted"].pk,
            "schedule": "daily", "folders": ["INBOX", "Sent"]}  # fmt: skip
    refused = post(client, reverse("api:jobs"), body)
    assert refused.status_code == 400 and "time_of_day" in refused.json()
    response = post(client, reverse("api:jobs"), {**body, "time_of_day": "02:30"})
    assert response.status_code == 201, response.content
    job = Job.objects.get(name="Nightly")
    assert job.options["folders"] == ["INBOX", "Sent"] and str(job.time_of_day) == "02:30:00"
    assert job.periodic_task is not None  # scheduled like a job saved on the page
    assert AuditEvent.objects.get(action="job.create").actor == "oscar"


def test_run_now_queues_a_run_through_the_runner_and_joins_the_one_already_queued(world):
    client = api_client(world["tokens"]["oscar"])
    job = Job.objects.create(name="Backup granted", account=world["granted"])
    first = post(client, reverse("api:job-run", args=[job.pk]))
    second = post(client, reverse("api:job-run", args=[job.pk]))
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    run = JobRun.objects.get(job=job)
    assert run.state == JobRun.State.QUEUED and run.trigger == JobRun.Trigger.MANUAL
    starts = AuditEvent.objects.filter(action="run.start")
    assert [e.details["joined"] for e in starts.order_by("pk")] == [False, True]


def test_a_run_reads_with_its_per_folder_progress(world):
    response = api_client(world["tokens"]["oscar"]).get(reverse("api:run", args=[world["run"].pk]))
    assert response.status_code == 200
    folders = response.json()["folders"]
    assert [(f["folder"], f["total"], f["done"]) for f in folders] == [("INBOX", 10, 4)]


def test_a_run_reads_with_its_mass_deletion_warning_and_what_vanished(world):
    run = world["run"]
    JobRun.objects.filter(pk=run.pk).update(warning="Possible mass deletion", vanished={"A": 3})
    body = api_client(world["tokens"]["oscar"]).get(reverse("api:run", args=[run.pk])).json()
    assert (body["warning"], body["vanished"]) == ("Possible mass deletion", {"A": 3})
    assert body["warning_acknowledged_at"] is None


def test_runs_list_filters_by_state_and_pages_by_id(world):
    client = api_client(world["tokens"]["alice"])
    done = JobRun.objects.create(job=world["job"], account=world["other"], state="succeeded")
    running = client.get(reverse("api:runs"), {"state": "running"}).json()
    assert [r["id"] for r in running] == [world["run"].pk]
    assert [r["id"] for r in client.get(reverse("api:runs"), {"before": done.pk}).json()] == [
        world["run"].pk
    ]


def test_cancelling_a_running_run_asks_it_to_stop_and_a_finished_one_says_conflict(world):
    client = api_client(world["tokens"]["oscar"])
    response = post(client, reverse("api:run-cancel", args=[world["run"].pk]))
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    done = JobRun.objects.create(job=world["job"], account=world["other"], state="succeeded")
    assert post(client, reverse("api:run-cancel", args=[done.pk])).status_code == 409
    assert AuditEvent.objects.filter(action="run.cancel").count() == 2


def test_a_job_with_a_running_run_is_not_deleted(world):
    client = api_client(world["tokens"]["oscar"])
    assert client.delete(reverse("api:job", args=[world["job"].pk])).status_code == 400
    world["run"].state = JobRun.State.SUCCEEDED
    world["run"].save()
    assert client.delete(reverse("api:job", args=[world["job"].pk])).status_code == 204
    assert not Job.objects.filter(pk=world["job"].pk).exists()


def test_a_job_never_shows_its_notification_urls(world):
    job = world["job"]
    job.set_notify_urls(["json://hooks.example.org/secret-hook"])
    job.save()
    response = api_client(world["tokens"]["oscar"]).get(reverse("api:job", args=[job.pk]))
    assert response.json()["has_notify_urls"] is True
    assert b"secret-hook" not in response.content
