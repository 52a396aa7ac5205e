from __future__ import annotations

from django.urls import path

from probes import views

app_name = "probes"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("<int:pk>/", views.probe_detail, name="detail"),
    path("<int:pk>/run/", views.run_now, name="run"),
    path("<int:pk>/schedule/", views.schedule, name="schedule"),
    path("<int:pk>/requests/<int:request_id>/", views.check_status, name="check_status"),
]
