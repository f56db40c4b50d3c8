"""Project-wide checks: migrations match the models, settings refuse unsafe production."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def run_settings(env):
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "forecastsite.settings", **env},
        capture_output=True,
        text=True,
    )


def test_production_refuses_the_development_secret_key():
    result = run_settings({"ENVIRONMENT": "production", "DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug():
    result = run_settings({"ENVIRONMENT": "production", "DEBUG": "true", "SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_junk_in_a_boolean_setting_is_a_clear_error():
    result = run_settings({"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


def test_nothing_configured_means_sqlite_and_in_process_tasks():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.CACHES['default']['BACKEND'], s.CACHE_SECONDS)",
        ],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "forecastsite.settings"},
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "True",
        "django.core.cache.backends.locmem.LocMemCache",
        # A per-process cache could not be invalidated by the scheduler's process.
        "0",
    ]


def test_redis_url_makes_redis_the_broker_and_the_cache():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER, s.CACHES['default']['BACKEND'])",
        ],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "forecastsite.settings",
            "REDIS_URL": "redis://127.0.0.1:6379/9",
            "DATABASE_URL": "postgres://u@h:5432/d",
        },
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == [
        "redis://127.0.0.1:6379/9",
        "False",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_an_empty_timeout_setting_means_the_default_not_no_timeout():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; print(s.FORECAST_DEFAULT_TIMEOUT)",
        ],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "forecastsite.settings",
            "FORECAST_DEFAULT_TIMEOUT": "",
        },
        capture_output=True,
        text=True,
    )
    assert 0 < float(result.stdout) <= 120
