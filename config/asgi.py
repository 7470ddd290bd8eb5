from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

from config import heap  # noqa: E402  (these need the settings loaded above)
from config.database import apply_role  # noqa: E402

apply_role("web")
heap.settle()  # last: everything start-up built is frozen out of the cyclic GC (config/heap.py)
