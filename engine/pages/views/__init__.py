"""Views of the pages people work in; each module is one area."""

from __future__ import annotations
