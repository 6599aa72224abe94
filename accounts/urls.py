from django.urls import path

from accounts import oauth_views, views

app_name = "accounts"
urlpatterns = [
    path("", views.account_list, name="list"),
    path("new/", views.account_create, name="new"),
    path("new/test/", views.form_test, name="new-test"),
    path("import/", views.import_accounts, name="import"),
    path("import/template.csv", views.import_template, name="import-template"),
    path("<int:pk>/", views.account_detail, name="detail"),
    path("<int:pk>/edit/", views.account_edit, name="edit"),
    path("<int:pk>/edit/test/", views.form_test, name="edit-test"),
    path("<int:pk>/test/", views.account_test, name="test"),
    path("<int:pk>/pin/", views.account_pin, name="pin"),
    path("<int:pk>/delete/", views.account_delete, name="delete"),
    # OAuth2 sign-in (accounts/oauth_views.py); the callback is the one redirect URI to register.
    path("oauth/callback/", oauth_views.oauth_callback, name="oauth-callback"),
    path("<int:pk>/oauth/", oauth_views.oauth_page, name="oauth"),
    path("<int:pk>/oauth/start/", oauth_views.oauth_start, name="oauth-start"),
    path("<int:pk>/oauth/device/", oauth_views.device_start, name="oauth-device"),
    path("<int:pk>/oauth/device/poll/", oauth_views.device_poll, name="oauth-device-poll"),
    path("<int:pk>/oauth/sign-out/", oauth_views.oauth_sign_out, name="oauth-sign-out"),
]
