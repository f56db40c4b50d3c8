"""Project-wide checks: migrations match the models, settings refuse unsafe production."""

import pytest
from django.core.management import call_command

from tests.settings_probe import load_settings


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_production_refuses_the_development_secret_key():
    result = load_settings({"ENVIRONMENT": "production", "DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug():
    result = load_settings({"ENVIRONMENT": "production", "DEBUG": "true", "SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_junk_in_a_boolean_setting_is_a_clear_error():
    result = load_settings({"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


def test_nothing_configured_means_sqlite_and_in_process_tasks():
    result = load_settings(
        {},
        show=(
            "DATABASES['default']['ENGINE']",
            "CELERY_TASK_ALWAYS_EAGER",
            "CACHES['default']['BACKEND']",
            "CACHE_SECONDS",
        ),
    )
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "True",
        "django.core.cache.backends.locmem.LocMemCache",
        # A per-process cache could not be invalidated by the scheduler's process.
        "0",
    ]


def test_redis_url_makes_redis_the_broker_and_the_cache():
    result = load_settings(
        {"REDIS_URL": "redis://127.0.0.1:6379/9", "DATABASE_URL": "postgres://u@h:5432/d"},
        show=("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "CACHES['default']['BACKEND']"),
    )
    assert result.stdout.split() == [
        "redis://127.0.0.1:6379/9",
        "False",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_an_empty_timeout_setting_means_the_default_not_no_timeout():
    result = load_settings({"FORECAST_DEFAULT_TIMEOUT": ""}, show=("FORECAST_DEFAULT_TIMEOUT",))
    assert 0 < float(result.stdout) <= 120
