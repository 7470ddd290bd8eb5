"""The designer in the admin: its pages under the template admin, and links to them from the lists.

The engine's admin knows nothing of the designer; this module swaps in subclasses of the engine's
template admins that add the designer's URLs and links (the admin loads `engine` first, see
INSTALLED_APPS).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, reverse
from django.utils.html import format_html

from designer.design.urls import designer_urls
from engine.admin.templates import TemplateVersionAdmin, WorkflowTemplateAdmin
from engine.models import TemplateVersion, WorkflowTemplate


class DesignerTemplateAdmin(WorkflowTemplateAdmin):
    list_display = (*WorkflowTemplateAdmin.list_display, "design_link")

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # The designer's patterns go first: the admin's catch-all `<path:object_id>/` would match them.
        return designer_urls(self, wrap=self.admin_site.admin_view) + super().get_urls()

    @admin.display(description="designer")
    def design_link(self, obj: WorkflowTemplate) -> str:
        url = reverse("admin:engine_workflowtemplate_design", args=[obj.pk])
        return format_html('<a href="{}">Design</a>', url)


class DesignerVersionAdmin(TemplateVersionAdmin):
    list_display = (*TemplateVersionAdmin.list_display, "design_links")

    @admin.display(description="designer")
    def design_links(self, obj: TemplateVersion) -> str:
        design = reverse("admin:engine_workflowtemplate_design_version", args=[obj.template_id, obj.number])
        compare = reverse("admin:engine_workflowtemplate_design_compare", args=[obj.template_id])
        return format_html(
            '<a href="{}">Design</a> · <a href="{}?new={}">Compare</a>', design, compare, obj.pk
        )


for model, model_admin in (
    (WorkflowTemplate, DesignerTemplateAdmin),
    (TemplateVersion, DesignerVersionAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
