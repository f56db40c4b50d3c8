import os

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Each test starts with an empty cache, whatever backend CI configured."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared_data_dir():
    """../shared/data beside the checkout; tests that need it skip cleanly where it is absent."""
    from pathlib import Path

    path = Path(os.environ.get("FORECASTSITE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (path / "questions.jsonl").exists():
        pytest.skip(f"shared data not found at {path}")
    return path
