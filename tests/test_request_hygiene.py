"""Requests the site must answer sanely: HEAD, NUL bytes in URLs, and production's secret key."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# --- SECRET_KEY in production -----------------------------------------------------


def run_settings(env):
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "forecastsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "key",
    ["", "   \t  ", " " * 60, secrets.token_urlsafe(64)[:49], "ab" * 40],
    ids=["empty", "whitespace", "long-whitespace", "49-characters", "two-characters-repeated"],
)
def test_production_refuses_an_empty_blank_short_or_repetitive_secret_key(key):
    result = run_settings({"ENVIRONMENT": "production", "DEBUG": "false", "SECRET_KEY": key})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be at least 50 characters" in result.stderr


def test_production_starts_with_a_long_random_secret_key():
    result = run_settings(
        {"ENVIRONMENT": "production", "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50)}
    )

    assert result.returncode == 0, result.stderr


def test_a_short_secret_key_is_fine_in_development():
    result = run_settings({"SECRET_KEY": "short"})

    assert result.returncode == 0, result.stderr
