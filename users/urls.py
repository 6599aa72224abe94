from django.urls import path

from users import views, views_tokens

app_name = "users"
urlpatterns = [
    path("", views.user_list, name="list"),
    path("new/", views.user_create, name="new"),
    path("<int:pk>/", views.user_edit, name="edit"),
    path("<int:pk>/password/", views.user_password, name="password"),
    path("<int:pk>/reset-two-factor/", views.user_reset_two_factor, name="reset-two-factor"),
    path("<int:pk>/delete/", views.user_delete, name="delete"),
    path("lockouts/<int:pk>/unlock/", views.lockout_unlock, name="unlock"),
    path("me/password/", views.my_password, name="my-password"),
    path("me/two-factor/", views.two_factor, name="two-factor"),
    path("me/tokens/", views_tokens.token_list, name="tokens"),
    path("me/tokens/<int:pk>/revoke/", views_tokens.token_revoke, name="token-revoke"),
]
