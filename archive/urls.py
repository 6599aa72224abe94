from django.urls import path

from archive import views, views_transfer

app_name = "archive"
urlpatterns = [
    path("", views.archive_home, name="home"),
    path("accounts/<int:pk>/", views.account_detail, name="account"),
    path("accounts/<int:pk>/import/", views_transfer.import_page, name="import"),
    path("accounts/<int:pk>/import/server/", views_transfer.import_server, name="import-server"),
    path("imports/<int:pk>/", views_transfer.import_run, name="import-run"),
    path("folders/<int:pk>/", views.folder_detail, name="folder"),
    path("messages/<int:pk>/", views.message_detail, name="message"),
    path("messages/<int:pk>/print/", views.message_detail, name="message-print"),
    path("messages/<int:pk>/body", views.message_body, name="message-body"),
    path("messages/<int:pk>/source/", views.message_source, name="message-source"),
    path("messages/<int:pk>/download", views.message_download, name="message-download"),
    path("messages/<int:pk>/parts/<int:index>", views.message_part, name="message-part"),
    path("messages/<int:pk>/inline/<int:index>", views.message_inline, name="message-inline"),
    path("messages/<int:pk>/conversation/", views.conversation, name="conversation"),
    path("search/", views_transfer.search_view, name="search"),
    path("export/", views_transfer.export_view, name="export"),
]
