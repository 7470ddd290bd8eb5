"""The pages people work in: inbox, workflows, progress and phase pages."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from engine.pages.views import actions, pages

app_name = "pages"

INSTANCE = "workflows/<uuid:instance_id>/"
PHASE = INSTANCE + "phases/<str:phase_id>/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="pages:inbox", permanent=False), name="home"),
    path("inbox/", pages.inbox, name="inbox"),
    path("workflows/", pages.workflow_list, name="workflow_list"),
    path("workflows/start/", pages.workflow_start_list, name="workflow_start_list"),
    path("workflows/start/<slug:key>/", pages.workflow_start, name="workflow_start"),
    path(INSTANCE, pages.workflow_detail, name="workflow_detail"),
    path(INSTANCE + "comments/", actions.comment_add, name="comment_add"),
    path(PHASE, pages.phase_detail, name="phase_detail"),
    path(PHASE + "claim/", actions.phase_claim, name="phase_claim"),
    path(PHASE + "release/", actions.phase_release, name="phase_release"),
    path(PHASE + "assign/", actions.phase_assign, name="phase_assign"),
]
