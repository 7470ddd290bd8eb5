"""The designer's URL patterns, mounted under the template admin by `WorkflowTemplateAdmin.get_urls()`.

They must come before the admin's own patterns: its catch-all `<path:object_id>/` would swallow them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import ModelAdmin
from django.urls import URLPattern, path

from designer.design import views


def designer_urls(model_admin: ModelAdmin, *, wrap: Callable[[Any], Any]) -> list[URLPattern]:
    """URL patterns for the designer; `wrap` is the admin site's `admin_view` (login, staff, CSRF)."""
    info = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_design"

    def view(cls: type[views.DesignerView]) -> Any:
        return wrap(cls.as_view(model_admin=model_admin))

    return [
        path("design/", view(views.DesignerPageView), name=f"{info}_new"),
        path("design/validate/", view(views.ValidateView), name=f"{info}_validate"),
        path("design/save/", view(views.SaveView), name=f"{info}_save"),
        path("design/import/", view(views.ImportView), name=f"{info}_import"),
        path("design/versions/<int:version_id>/publish/", view(views.PublishView), name=f"{info}_publish"),
        path("design/versions/<int:version_id>/draft/", view(views.DraftFromView), name=f"{info}_draft"),
        path("design/versions/<int:version_id>/export/", view(views.ExportView), name=f"{info}_export"),
        path("<int:template_id>/design/", view(views.DesignerPageView), name=info),
        path("<int:template_id>/design/v<int:number>/", view(views.DesignerPageView), name=f"{info}_version"),
        path("<int:template_id>/design/compare/", view(views.CompareView), name=f"{info}_compare"),
    ]
