from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from console import views
from incidents.intake import views as intake_views

handler403 = "console.views.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="incidents:list"), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("hooks/<slug:kind>/<str:token>/", intake_views.hook, name="hook"),
    path("incidents/", include("incidents.urls")),
    path("runbooks/", include("runbooks.urls")),
    path("probes/", include("probes.urls")),
    path("admin/", admin.site.urls),
]
