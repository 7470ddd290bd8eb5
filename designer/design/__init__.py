"""The browser designer in the Django admin: draw a template, validate it live, publish it, compare versions.

The views are reached through `WorkflowTemplateAdmin.get_urls()` (see `designer.design.urls`), so the admin's
login, permissions and look apply. They only read through the selectors here and write through
`engine.services.templates`; everything the user sees on the canvas is built by the ES modules in
`static/designer/js/`.
"""
