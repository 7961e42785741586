from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]

handler404 = "common.api.problems.page_not_found"
handler500 = "common.api.problems.server_error"
