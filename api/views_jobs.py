"""Jobs and runs over the API (administrators and operators, like the pages): define, change,
delete and run jobs; list runs, read one with its per-folder progress, cancel it. Starting and
cancelling go through jobs.runner, the one run lifecycle."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import record
from api.forms import bound_form
from api.serializers import JobSerializer, JobWriteSerializer, RunDetailSerializer, RunSerializer
from backupweb.access import STAFF
from jobs import runner
from jobs.forms_transfer import form_class_for
from jobs.models import Job, JobRun

RUNS_PER_PAGE = 100


def get_job(pk: int) -> Job:
    return get_object_or_404(Job.objects.select_related("account"), pk=pk)


def get_run(pk: int) -> JobRun:
    return get_object_or_404(JobRun.objects.select_related("job", "account"), pk=pk)


class JobList(APIView):
    roles = STAFF

    @extend_schema(responses=JobSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(JobSerializer(Job.objects.order_by("name"), many=True).data)

    @extend_schema(request=JobWriteSerializer, responses={201: JobSerializer})
    def post(self, request: Request) -> Response:
        kind = request.data.get("kind", Job.Kind.BACKUP) if isinstance(request.data, dict) else ""
        job = bound_form(form_class_for(kind), request.data).save()
        record(request, "job.create", job, kind=job.kind, schedule=job.schedule)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetail(APIView):
    roles = STAFF

    @extend_schema(responses=JobSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(JobSerializer(get_job(pk)).data)

    @extend_schema(request=JobWriteSerializer, responses=JobSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        job = get_job(pk)
        form = bound_form(form_class_for(job.kind), request.data, job)
        form.save()
        record(request, "job.change", job, fields=sorted(form.changed_data))
        return Response(JobSerializer(job).data)

    put = patch

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        job = get_job(pk)
        if job.runs.filter(state=JobRun.State.RUNNING).exists():
            raise ValidationError({"detail": "This job is running: cancel the run first."})
        record(request, "job.delete", job)
        job.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobRunNow(APIView):
    roles = STAFF

    @extend_schema(request=None, responses={202: RunSerializer})
    def post(self, request: Request, pk: int) -> Response:
        job = get_job(pk)
        run, created = runner.trigger(job, JobRun.Trigger.MANUAL)
        record(request, "run.start", run, job=job.name, kind=job.kind, joined=not created)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunList(APIView):
    roles = STAFF

    @extend_schema(
        parameters=[
            OpenApiParameter("job", int),
            OpenApiParameter("account", int),
            OpenApiParameter("state", str, enum=JobRun.State.values),
            OpenApiParameter("before", int, description="the last id of the previous page"),
        ],
        responses=RunSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        runs = JobRun.objects.order_by("-pk")
        params = request.query_params
        for name, lookup in (("job", "job_id"), ("account", "account_id"), ("before", "pk__lt")):
            if params.get(name):
                runs = runs.filter(**{lookup: _int(params[name], name)})
        if params.get("state"):
            runs = runs.filter(state=params["state"])
        return Response(RunSerializer(runs[:RUNS_PER_PAGE], many=True).data)


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValidationError({name: "a number"}) from None


class RunDetail(APIView):
    roles = STAFF

    @extend_schema(responses=RunDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RunDetailSerializer(get_run(pk)).data)


class RunCancel(APIView):
    roles = STAFF

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = get_run(pk)
        record(request, "run.cancel", run)
        cancelled = runner.cancel(run)
        run.refresh_from_db()
        data = RunSerializer(run).data
        return Response(
            data, status=status.HTTP_202_ACCEPTED if cancelled else status.HTTP_409_CONFLICT
        )
