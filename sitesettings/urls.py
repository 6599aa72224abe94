from django.urls import path

from sitesettings import views

app_name = "sitesettings"
urlpatterns = [
    path("", views.edit, name="edit"),
    path("notify-test/", views.notify_test, name="notify-test"),
    path("mail-test/", views.mail_test, name="mail-test"),
]
