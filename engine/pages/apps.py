from __future__ import annotations

from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "engine.pages"
    label = "pages"
    verbose_name = "Pages"
