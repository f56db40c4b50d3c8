import os

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def redis_url_for_this_process(url):
    """Each pytest-xdist process gets its own Redis database: every test flushes its cache.

    The first process keeps the configured database (bin/test: 14, beside the
    test broker's 13); the others count down from 12.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int(worker[2:]) if worker[2:].isdigit() else 0
    if not url or number == 0:
        return url
    base, _, database = url.rpartition("/")
    return f"{base}/{int(database or 0) - 1 - number}"


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Each test starts with an empty cache, whatever backend CI configured.

    The tests run in one process, so caching is on even with the local-memory
    cache (the site itself turns it off there: see CACHE_SECONDS).
    """
    from django.core.cache import cache

    settings.CACHE_SECONDS = 300
    settings.PAGE_CACHE_SECONDS = 300
    location = settings.CACHES["default"].get("LOCATION", "")
    if location.startswith("redis://") and redis_url_for_this_process(location) != location:
        settings.CACHES = {
            "default": {**settings.CACHES["default"], "LOCATION": redis_url_for_this_process(location)}
        }

    cache.clear()
    yield
    cache.clear()


def find_shared_data():
    """../shared/data beside the checkout; tests that need it skip cleanly where it is absent."""
    from pathlib import Path

    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(os.environ.get("FORECASTSITE_SHARED_DATA", default))
    if not (path / "questions.jsonl").exists():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture
def shared_data_dir():
    return find_shared_data()


@pytest.fixture(autouse=True)
def _fast_pipeline(settings):
    """Backoff and deadlines short enough for tests; the logic is the same."""
    settings.FORECAST_BACKOFF_BASE = 0.01
    settings.FORECAST_BACKOFF_MAX = 0.05
    settings.FORECAST_DEFAULT_TIMEOUT = 5.0
    settings.FORECAST_ROUND_DEADLINE = 20.0
    settings.FORECAST_LOCAL_CONCURRENCY = 1


@pytest.fixture
def replay_server():
    """A local OpenAI-compatible server; set `.script` per model id before asking."""
    from replay import ReplayServer

    server = ReplayServer().start()
    yield server
    server.stop()


@pytest.fixture
def panel(db, replay_server):
    """Four active panel models answered by the replay server (the seeded panel is switched off)."""
    from forecasts.models import PanelModel

    PanelModel.objects.update(is_active=False)
    return [
        PanelModel.objects.create(
            name=f"Seat {letter}",
            model=f"model-{letter.lower()}",
            base_url=replay_server.base_url,
            position=i,
            price_in_per_million="1.00",
            price_out_per_million="2.00",
        )
        for i, letter in enumerate("ABCD")
    ]


def restore_migration_data():
    """Put back the rows data migrations create: the Editors group and the default panel.

    The flush after each transactional test (browser and worker tests) empties
    every table, and only content types and permissions come back by themselves.
    """
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    from forecasts.models import PanelModel

    if not Group.objects.filter(name="Editors").exists():
        editors = importlib.import_module("questions.migrations.0002_lifecycle_constraints_and_editors")
        group = Group.objects.create(name="Editors")
        group.permissions.set(
            Permission.objects.get(content_type__app_label=label, codename=codename)
            for label, codenames in editors.EDITOR_PERMISSIONS.items()
            for codename in codenames
        )
    if not PanelModel.objects.exists():
        panel = importlib.import_module("forecasts.migrations.0002_default_panel")
        panel.seed_panel(apps, None)


@pytest.fixture(autouse=True)
def _data_from_migrations(request):
    uses_db = {"db", "transactional_db", "_django_db_helper"} & set(request.fixturenames)
    if not uses_db and not request.node.get_closest_marker("django_db"):
        return
    request.getfixturevalue("_django_db_helper")
    restore_migration_data()
