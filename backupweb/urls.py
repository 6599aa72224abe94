from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path

from api.views_docs import DocsView, SchemaView
from backupweb import views
from jobs.metrics import metrics_view
from users.views import LoginView

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("jobs/", include("jobs.urls")),
    path("archive/", include("archive.urls")),
    path("users/", include("users.urls")),
    path("audit/", include("audit.urls")),
    path("settings/", include("sitesettings.urls")),
    path("api/v1/", include(("api.urls", "api"), namespace="api")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", login_required(DocsView.as_view()), name="api-docs"),
    path("admin/", admin.site.urls),
]
