from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

app_name = "designer"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="inbox"),
]
