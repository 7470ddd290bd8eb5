"""`{{ value|json_text }}`: a JSON value as JSON (true, null, "text"), indented; never Python's repr."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@register.filter
def json_inline(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
