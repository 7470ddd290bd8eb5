"""The REST API, documented by the OpenAPI schema at /api/schema/."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from engine.api.views import (
    compensations,
    dead_letters,
    instances,
    metrics,
    migrations,
    phases,
    schedules,
    signals,
    tasks,
    templates,
)

app_name = "api"

TEMPLATE = "templates/<str:key>/"
VERSION = TEMPLATE + "versions/<int:number>/"
INSTANCE = "instances/<uuid:pk>/"
PHASE = INSTANCE + "phases/<str:phase_id>/"
DEAD_LETTER = "dead-letters/<int:pk>/"
SCHEDULE = "schedules/<slug:name>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("metrics/", metrics.MetricsView.as_view(), name="metrics"),
    path("tasks/", tasks.TaskListView.as_view(), name="task-list"),
    # templates and versions
    path("templates/", templates.TemplateListView.as_view(), name="template-list"),
    path("templates/validate/", templates.TemplateValidateView.as_view(), name="template-validate"),
    path(TEMPLATE, templates.TemplateDetailView.as_view(), name="template-detail"),
    path(TEMPLATE + "export/", templates.TemplateExportView.as_view(), name="template-export"),
    path(TEMPLATE + "versions/", templates.VersionListView.as_view(), name="version-list"),
    path(VERSION, templates.VersionDetailView.as_view(), name="version-detail"),
    path(VERSION + "publish/", templates.VersionPublishView.as_view(), name="version-publish"),
    path(VERSION + "retire/", templates.VersionRetireView.as_view(), name="version-retire"),
    path(VERSION + "compare/", templates.VersionCompareView.as_view(), name="version-compare"),
    path(VERSION + "export/", templates.VersionExportView.as_view(), name="version-export"),
    # instances
    path("instances/", instances.InstanceListView.as_view(), name="instance-list"),
    path("instances/migrate/", migrations.InstanceMigrateView.as_view(), name="instance-migrate"),
    path(INSTANCE, instances.InstanceDetailView.as_view(), name="instance-detail"),
    path(INSTANCE + "history/", instances.InstanceHistoryView.as_view(), name="instance-history"),
    path(INSTANCE + "cancel/", instances.InstanceCancelView.as_view(), name="instance-cancel"),
    path(INSTANCE + "suspend/", instances.InstanceSuspendView.as_view(), name="instance-suspend"),
    path(INSTANCE + "resume/", instances.InstanceResumeView.as_view(), name="instance-resume"),
    path(INSTANCE + "retry/", instances.InstanceRetryView.as_view(), name="instance-retry"),
    path(
        INSTANCE + "compensate/", compensations.InstanceCompensateView.as_view(), name="instance-compensate"
    ),
    path(
        INSTANCE + "compensations/",
        compensations.InstanceCompensationsView.as_view(),
        name="instance-compensations",
    ),
    path(INSTANCE + "signals/<str:name>/", signals.SignalView.as_view(), name="instance-signal"),
    path("signals/", signals.CorrelatedSignalView.as_view(), name="signal-correlated"),
    # phases: detail, human work, administrator overrides
    path(PHASE, phases.PhaseDetailView.as_view(), name="phase-detail"),
    path(PHASE + "claim/", phases.PhaseClaimView.as_view(), name="phase-claim"),
    path(PHASE + "release/", phases.PhaseReleaseView.as_view(), name="phase-release"),
    path(PHASE + "assign/", phases.PhaseAssignView.as_view(), name="phase-assign"),
    path(PHASE + "complete/", phases.PhaseCompleteView.as_view(), name="phase-complete"),
    path(PHASE + "comment/", phases.PhaseCommentView.as_view(), name="phase-comment"),
    path(PHASE + "retry/", phases.PhaseRetryView.as_view(), name="phase-retry"),
    path(PHASE + "skip/", phases.PhaseSkipView.as_view(), name="phase-skip"),
    path(PHASE + "reopen/", phases.PhaseReopenView.as_view(), name="phase-reopen"),
    path(PHASE + "force-complete/", phases.PhaseForceCompleteView.as_view(), name="phase-force-complete"),
    path(PHASE + "reassign/", phases.PhaseReassignView.as_view(), name="phase-reassign"),
    path(PHASE + "extend-sla/", phases.PhaseExtendSlaView.as_view(), name="phase-extend-sla"),
    # dead letters
    path("dead-letters/", dead_letters.DeadLetterListView.as_view(), name="dead-letter-list"),
    path(DEAD_LETTER, dead_letters.DeadLetterDetailView.as_view(), name="dead-letter-detail"),
    path(DEAD_LETTER + "retry/", dead_letters.DeadLetterRetryView.as_view(), name="dead-letter-retry"),
    path(DEAD_LETTER + "discard/", dead_letters.DeadLetterDiscardView.as_view(), name="dead-letter-discard"),
    # schedules
    path("schedules/", schedules.ScheduleListView.as_view(), name="schedule-list"),
    path(SCHEDULE, schedules.ScheduleDetailView.as_view(), name="schedule-detail"),
    path(SCHEDULE + "pause/", schedules.SchedulePauseView.as_view(), name="schedule-pause"),
    path(SCHEDULE + "resume/", schedules.ScheduleResumeView.as_view(), name="schedule-resume"),
]
