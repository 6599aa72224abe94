"""The /api/v1/ endpoints (the schema and its documentation are in api.views_docs)."""

from __future__ import annotations

from django.urls import path

from api import views_accounts, views_admin, views_archive, views_jobs

urlpatterns = [
    path("accounts/", views_accounts.AccountList.as_view(), name="accounts"),
    path("accounts/<int:pk>/", views_accounts.AccountDetail.as_view(), name="account"),
    path("accounts/<int:pk>/test/", views_accounts.AccountTest.as_view(), name="account-test"),
    path("jobs/", views_jobs.JobList.as_view(), name="jobs"),
    path("jobs/<int:pk>/", views_jobs.JobDetail.as_view(), name="job"),
    path("jobs/<int:pk>/run/", views_jobs.JobRunNow.as_view(), name="job-run"),
    path("runs/", views_jobs.RunList.as_view(), name="runs"),
    path("runs/<int:pk>/", views_jobs.RunDetail.as_view(), name="run"),
    path("runs/<int:pk>/cancel/", views_jobs.RunCancel.as_view(), name="run-cancel"),
    path(
        "archive/accounts/<int:pk>/folders/",
        views_archive.AccountFolders.as_view(),
        name="archive-folders",
    ),
    path(
        "archive/folders/<int:pk>/messages/",
        views_archive.FolderMessages.as_view(),
        name="archive-messages",
    ),
    path("archive/messages/<int:pk>/", views_archive.MessageDetail.as_view(), name="message"),
    path(
        "archive/messages/<int:pk>/source/",
        views_archive.MessageSource.as_view(),
        name="message-source",
    ),
    path(
        "archive/messages/<int:pk>/parts/<int:index>/",
        views_archive.MessagePart.as_view(),
        name="message-part",
    ),
    path("archive/search/", views_archive.Search.as_view(), name="search"),
    path("archive/export/", views_archive.Export.as_view(), name="export"),
    path("users/", views_admin.UserList.as_view(), name="users"),
    path("users/<int:pk>/", views_admin.UserDetail.as_view(), name="user"),
    path("users/<int:pk>/grants/", views_admin.UserGrants.as_view(), name="user-grants"),
    path("audit/", views_admin.AuditList.as_view(), name="audit"),
]
