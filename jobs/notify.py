"""Notifications through Apprise URLs: email, JSON webhooks, ntfy, Slack, Matrix, Telegram, ...

Each job has its own URLs (encrypted in the database) or falls back to the site default
(the settings page's, else NOTIFY_URLS). The message names the job, the account, the error
and links to the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import apprise
from django.conf import settings

from jobs.models import Job, JobRun
from mail import outbound
from mail.errors import HostNotAllowed
from sitesettings.values import site_settings

logger = logging.getLogger(__name__)
State = JobRun.State


@dataclass
class Outcome:
    ok: bool
    detail: str


def urls_for(job: Job | None) -> list[str]:
    own = job.get_notify_urls() if job is not None else []
    return own or site_settings().notify_urls


def send(urls: list[str], title: str, body: str, kind: str = apprise.NotifyType.INFO) -> Outcome:
    """Send one notification to every URL; ok only if all of them accepted it. The detail names
    each target that did not (by its URL with the secrets masked) and why."""
    if not urls:
        return Outcome(False, "No notification URLs are configured (job or site default).")
    problems = [
        problem
        for number, url in enumerate(urls, start=1)
        if (problem := _send_one(number, url, title, body, kind))
    ]
    if problems:
        return Outcome(False, " ".join(problems))
    return Outcome(True, f"Sent to {len(urls)} notification URL(s).")


def _send_one(number: int, url: str, title: str, body: str, kind: str) -> str:
    """ "" when the target accepted the message, else one sentence naming it and why not.

    Every connection the target's plugin makes goes through the outbound policy
    (`mail.outbound.guarded`): a webhook on an internal address, or one that redirects there,
    is refused like a mail server would be."""
    target = apprise.Apprise.instantiate(url)
    if target is None:
        return f"Target {number} is not a valid notification URL."
    label = f"Target {number} ({masked(url)})"
    host = getattr(target, "smtp_host", None) or getattr(target, "host", None)
    try:
        if host:
            outbound.check_host(str(host))
    except HostNotAllowed as exc:
        return f"{label}: {exc}"
    ap = apprise.Apprise()
    ap.add(target)
    text = apprise.NotifyFormat.TEXT
    with apprise.LogCapture(level=logging.WARNING) as captured, outbound.guarded():
        sent = ap.notify(title=title, body=body, notify_type=kind, body_format=text)
    if sent:
        return ""
    return f"{label} failed: {_reason(captured.getvalue())}"


def masked(url: str, with_path: bool = True) -> str:
    """The URL with its secrets masked and its options left out; without the path (where a
    plain webhook may carry its token) for a page that lists the targets."""
    target = apprise.Apprise.instantiate(url)
    if target is None:
        return "not a valid notification URL"
    shown = target.url(privacy=True).split("?")[0]
    if with_path:
        return shown
    scheme, _, rest = shown.partition("://")
    return f"{scheme}://{rest.split('/')[0]}"


def _reason(log: str) -> str:
    """The plugin's own words about the failure (its last warning), on one short line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    reason = " ".join(lines[-1].split())[:300] if lines else "no answer from the service"
    return reason.rstrip(".") + "."


def run_url(run: JobRun) -> str:
    return settings.SITE_URL.rstrip("/") + run.get_absolute_url()


def events_for(run: JobRun) -> list[str]:
    """Which of the job's notification settings this finished run triggers."""
    job = run.job
    events = []
    if run.state == State.FAILED and run.error_kind == "auth":
        if job.notify_on_auth_failure:
            events.append("authentication failed")
    elif run.state in (State.FAILED, State.PARTIAL) and job.notify_on_failure:
        events.append(run.state)
    elif run.state == State.INTERRUPTED and "Quarantined" in run.error and job.notify_on_failure:
        events.append("quarantined")
    if run.messages_parked and job.notify_on_parked:
        events.append("messages parked")
    if run.state == State.SUCCEEDED and job.notify_on_success and not events:
        events.append("succeeded")
    return events


def compose(run: JobRun, events: list[str]) -> tuple[str, str, str]:
    """Title, body and Apprise type for a finished run."""
    job = run.job
    failed = any(e != "succeeded" for e in events)
    title = f"backupweb: {job.get_kind_display().lower()} of {run.account.name} {events[0]}"
    lines = [
        f"Job: {job.name}",
        f"Account: {run.account.name}",
        f"State: {run.get_state_display()}",
    ]
    if run.error:
        lines.append(f"Error: {run.error}")
    if run.messages_parked:
        lines.append(f"Parked messages (retried next run): {run.messages_parked}")
    if run.summary:
        lines.append(f"Summary: {run.summary}")
    lines.append(f"Run: {run_url(run)}")
    kind = apprise.NotifyType.FAILURE if failed else apprise.NotifyType.SUCCESS
    return title, "\n".join(lines), kind


def run_finished(run: JobRun) -> Outcome | None:
    if run.state not in JobRun.FINISHED_STATES:
        return None
    events = events_for(run)
    if not events:
        return None
    title, body, kind = compose(run, events)
    outcome = send(urls_for(run.job), title, body, kind)
    level = logging.INFO if outcome.ok else logging.WARNING
    logger.log(level, "notification: %s", outcome.detail, extra={"run_id": run.pk})
    return outcome


def mass_deletion(run: JobRun) -> Outcome | None:
    """A backup's mass-deletion warning goes to the job's targets whatever the job's other
    notification settings: "possible mass deletion", with what vanished per folder."""
    if not run.warning:
        return None
    title = f"backupweb: possible mass deletion in {run.account.name}"
    vanished = sorted((run.vanished or {}).items())
    lines = [
        f"Job: {run.job.name}",
        f"Account: {run.account.name}",
        run.warning,
        *(["Gone from the server since the last run, per folder:"] if vanished else []),
        *(f"  {folder}: {count:,}" for folder, count in vanished),
        "The archive keeps every one of them.",
        f"Run: {run_url(run)}",
    ]
    outcome = send(urls_for(run.job), title, "\n".join(lines), apprise.NotifyType.WARNING)
    level = logging.INFO if outcome.ok else logging.WARNING
    logger.log(level, "mass-deletion notification: %s", outcome.detail, extra={"run_id": run.pk})
    return outcome


def job_stale(job: Job, last_success: JobRun | None) -> bool:
    when = last_success.finished_at.strftime("%Y-%m-%d %H:%M") if last_success else "never"
    days = job.notify_stale_days
    title = f"backupweb: no successful backup of {job.account.name} for {days} days"
    body = "\n".join(
        [
            f"Job: {job.name}",
            f"Account: {job.account.name}",
            f"Last successful run: {when}",
            f"Job: {settings.SITE_URL.rstrip('/')}{job.get_absolute_url()}",
        ]
    )
    return send(urls_for(job), title, body, apprise.NotifyType.WARNING).ok


def send_test(job: Job | None) -> Outcome:
    name = job.name if job else "site default"
    body = f"Test notification for {name}. If you read this, notifications work."
    if job is not None:
        body += f"\nJob: {settings.SITE_URL.rstrip('/')}{job.get_absolute_url()}"
    return send(urls_for(job), "backupweb: test notification", body)
