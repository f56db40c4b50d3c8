"""Loading the settings in a fresh process, with only the environment a test gives it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_settings(env, show=()):
    """Run django.setup() with `env`; print the named settings, space-separated, on success."""
    code = "import django; django.setup()"
    if show:
        code += (
            "; from django.conf import settings as s; print(" + ", ".join(f"s.{name}" for name in show) + ")"
        )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "forecastsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
