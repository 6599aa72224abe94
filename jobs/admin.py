from django.contrib import admin

from jobs.models import FolderRun, Job, JobRun


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "account", "schedule", "enabled"]
    list_filter = ["kind", "schedule", "enabled"]
    exclude = ["notify_urls_encrypted"]  # encrypted; edited through the job form


class FolderRunInline(admin.TabularInline):
    model = FolderRun
    extra = 0
    can_delete = False
    readonly_fields = ["folder", "state", "total", "done", "bytes", "error", "started_at"]


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "job", "account", "state", "trigger", "queued_at", "finished_at"]
    list_filter = ["state", "trigger"]
    readonly_fields = [f.name for f in JobRun._meta.fields]
    inlines = [FolderRunInline]
