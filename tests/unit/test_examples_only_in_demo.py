"""The example systems are installed by the demo and the tests only: production offers none of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
django.setup()
from django.apps import apps
from django.core.management import get_commands
from engine.activities import registered_activities
print(json.dumps({
    "installed": apps.is_installed("fixtures"),
    "activities": sorted(registered_activities()),
    "demo_setup": "demo_setup" in get_commands(),
}))
"""


def probe(**env: str) -> dict:
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith(("PHASEGATE_", "DJANGO_"))
    }
    environ |= {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "x" * 60, **env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_production_install_has_no_example_activities_and_no_demo_setup():
    seen = probe()
    assert seen["installed"] is False
    examples = ("market", "products", "regulatory")
    assert not [name for name in seen["activities"] if name.split(".")[0] in examples]
    assert seen["demo_setup"] is False


def test_the_demo_switch_installs_the_examples_with_their_activities():
    seen = probe(PHASEGATE_EXAMPLES="1")
    assert seen["installed"] is True
    assert {"market.ingest", "products.enrich"} <= set(seen["activities"])
    assert seen["demo_setup"] is True
