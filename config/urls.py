from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from engine.observability import dashboard
from engine.observability import views as observability

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("engine.api.urls")),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("metrics", observability.metrics, name="metrics"),
    path("health/live", observability.live, name="health-live"),
    path("health/ready", observability.ready, name="health-ready"),
    path("", include("engine.pages.urls")),
]

# API paths answer an unexpected error in the API's shape (503 with a code when the database is out).
handler500 = "engine.api.errors.server_error"
