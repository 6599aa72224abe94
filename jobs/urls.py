from django.urls import path

from jobs import views, views_export, views_transfer

app_name = "jobs"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.job_create, name="create"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/edit/", views.job_edit, name="edit"),
    path("<int:pk>/duplicate/", views.job_duplicate, name="duplicate"),
    path("<int:pk>/delete/", views.job_delete, name="delete"),
    path("<int:pk>/run/", views.job_run_now, name="run-now"),
    path("<int:pk>/test-notification/", views.job_notify_test, name="notify-test"),
    path("add-daily/<int:account_pk>/", views.add_daily_backup, name="add-daily"),
    path("exports/new/", views_export.export_background, name="export-background"),
    path("exports/<int:pk>/", views_export.export_run, name="export-run"),
    path("exports/<int:pk>/download", views_export.export_download, name="export-download"),
    path("runs/", views.run_list, name="history"),
    path("runs/active/", views.active_runs, name="active"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run-retry"),
    path("runs/<int:pk>/acknowledge/", views.run_acknowledge, name="run-acknowledge"),
    # Sync, restore and bulk migrations (issue 7).
    path("<int:pk>/preflight/", views_transfer.job_preflight, name="preflight"),
    path("<int:pk>/dry-run/", views_transfer.job_dry_run, name="dry-run"),
    path("restore/new/", views_transfer.restore_new, name="restore-new"),
    path("bulk/", views_transfer.bulk_list, name="bulk-list"),
    path("bulk/new/", views_transfer.bulk_new, name="bulk-new"),
    path("bulk/template.csv", views_transfer.bulk_template, name="bulk-template"),
    path("bulk/<int:pk>/", views_transfer.bulk_detail, name="bulk-detail"),
    path("bulk/<int:pk>/rows/", views_transfer.bulk_rows, name="bulk-rows"),
    path("bulk/<int:pk>/start/", views_transfer.bulk_start, name="bulk-start"),
]
