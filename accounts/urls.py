from django.urls import path

from accounts import views

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
]
