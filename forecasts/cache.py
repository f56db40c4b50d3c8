"""A page cache for anonymous readers, invalidated by content generations.

Readers are anonymous and read far more than editors write, so the public
pages (home, category, a question's page and its fragments, the trajectory
JSON, the feeds) are kept in Django's cache (Redis in production) under a key
made of a generation (questions.services), the path with its query string and
whether the request came from HTMX.

Which generation: a question's own pages (/questions/<slug>/..., its feed,
its API detail) use the shared generation and that question's one, so a round
of another question leaves them cached; every other page uses the site-wide
generation, which every write bumps. A round's Snapshot, a failed answer, a
question's edit, resolution or un-resolution and a category edit bump them
through signals (api.signals) and the lifecycle services, so a stale page is
never served after the write commits.

What is never cached:
- requests carrying a session cookie: logged-in editors may see other things,
  and a session is the only way to be logged in;
- query strings with parameters no public view reads (?x=random would
  otherwise fill the cache with copies of one page);
- anything but a plain 200 (errors, redirects, streaming responses);
- a response that sets a cookie or whose rendering used the CSRF token. A
  cached page would hand one visitor's token, which unmasks to their secret,
  to everyone; base.html therefore leaves the token out for anonymous readers,
  who have nothing to POST.

The cache fails open: if Redis is slow or down, pages render without it
(questions.services.cache_call logs it once a minute).
"""

import functools
import hashlib
import re
import threading
import time
import uuid
from collections import OrderedDict

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

from questions.services import (
    GENERATION_KEY,
    SHARED_KEY,
    bump_content_generation,
    cache_call,
    generations,
    local_versions,
    question_key,
)

EPOCH_KEY = "page:epoch"

# Pages that show one question and nothing that another question's round
# changes: keyed on that question's generation.
_QUESTION_PATH = re.compile(r"^/(?:questions|feeds/questions|api/v1/questions)/(?P<slug>[-a-zA-Z0-9_]+)/")

# Every query parameter a cached public view reads. Anything else is served
# uncached, so random parameters cannot flood the cache.
CACHED_PARAMS = frozenset(
    {"page", "category", "status", "range", "round", "min_move", "limit", "offset", "updated_since", "format"}
)
MAX_QUERY_LENGTH = 256
# Versions remembered per process: one per question and one for the lists.
_MAX_LOCAL_VERSIONS = 4096

__all__ = [
    "PageCacheMiddleware",
    "bump_content_generation",
    "cache_for_readers",
    "is_cacheable_request",
    "page_key",
    "version_for_path",
]

# Headers the view set that a cached copy must carry again; the middleware
# (security headers, CSP) runs on every response, cached or not.
_KEPT_HEADERS = ("Content-Type", "Vary", "Cache-Control", "Content-Language", "Last-Modified", "ETag")


class _LocalCopies:
    """A small per-process LRU in front of the shared cache.

    A hit in Redis still costs moving and unpickling the whole page; keeping
    the latest pages in each worker's memory skips that. The keys carry the
    content generation, read from the shared cache on every request, so a
    local copy is never served after an invalidation: it just ages out.
    """

    def __init__(self, max_entries=256):
        self.max_entries = max_entries
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires_at, value = item
            if expires_at < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def set(self, key, value, seconds):
        with self._lock:
            self._items[key] = (time.monotonic() + seconds, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self):
        with self._lock:
            self._items.clear()


local_copies = _LocalCopies()


def _get(key):
    hit = local_copies.get(key)
    if hit is None:
        hit = cache_call("get", key)
        if hit is not None:
            local_copies.set(key, hit, _seconds())
    return hit


def _set(key, value):
    cache_call("set", key, value, _seconds())
    local_copies.set(key, value, _seconds())


def _seconds():
    return getattr(settings, "PAGE_CACHE_SECONDS", settings.CACHE_SECONDS)


def is_cacheable_request(request):
    if request.method != "GET" or _seconds() <= 0:
        return False
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or "messages" in cookies:
        return False
    query = request.META.get("QUERY_STRING", "")
    if query:
        if len(query) > MAX_QUERY_LENGTH:
            return False
        params = request.GET
        if len(params) > len(CACHED_PARAMS) or any(name not in CACHED_PARAMS for name in params):
            return False
    return True


def question_slug(path):
    """The slug of the question a path shows, or None for list pages."""
    match = _QUESTION_PATH.match(path)
    return match["slug"] if match else None


def _version_seconds():
    return getattr(settings, "PAGE_CACHE_VERSION_SECONDS", 0.0)


def version_for_path(path):
    """The generations a page at `path` depends on, as one string; None when the cache is down.

    The epoch is a random token that disappears with the shared cache: after a
    flush the generations restart and might meet an old number, but never with
    the old epoch, so no worker's local copy can come back to life. All the
    values come in one round trip, and each process reuses them for
    PAGE_CACHE_VERSION_SECONDS (a second by default): a cache hit then costs
    no trip to Redis at all, and a write in another process shows within that
    second (a bump in this process shows at once).
    """
    slug = question_slug(path)
    keys = (EPOCH_KEY, SHARED_KEY, question_key(slug)) if slug else (EPOCH_KEY, GENERATION_KEY)
    seconds = _version_seconds()
    now = time.monotonic()
    if seconds > 0:
        memo = local_versions.get(keys)
        if memo is not None and memo[0] > now:
            return memo[1]
    values = cache_call("get_many", keys)
    if values is None:
        return None
    if len(values) < len(keys):
        if EPOCH_KEY not in values:
            cache_call("add", EPOCH_KEY, uuid.uuid4().hex, None)
        generations(keys[1:])
        values = cache_call("get_many", keys)
        if values is None or len(values) < len(keys):
            return None
    version = ":".join(str(values[key]) for key in keys)
    if seconds > 0:
        if len(local_versions) >= _MAX_LOCAL_VERSIONS:
            local_versions.clear()
        local_versions[keys] = (now + seconds, version)
    return version


def page_key(request):
    """The cache key of this request's page, or None when the cache is unavailable."""
    version = version_for_path(request.path_info)
    if version is None:
        return None
    is_htmx = request.META.get("HTTP_HX_REQUEST") == "true"
    digest = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    return f"page:{version}:{'hx' if is_htmx else 'full'}:{digest}"


def _is_cacheable_response(request, response):
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
    )


def cache_for_readers(view):
    """Serve anonymous GETs of a public view from the cache; everyone else gets the view itself."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_cacheable_request(request):
            return view(request, *args, **kwargs)
        key = page_key(request)
        if key is None:
            return view(request, *args, **kwargs)
        hit = _get(key)
        if hit is not None:
            return _from_cache(hit)
        response = view(request, *args, **kwargs)
        if hasattr(response, "render") and callable(response.render) and not response.is_rendered:
            response.render()
        # The fragment and the full page share a URL: caches downstream must
        # keep them apart too.
        patch_vary_headers(response, ["HX-Request"])
        if _is_cacheable_response(request, response):
            headers = [(name, response[name]) for name in _KEPT_HEADERS if response.has_header(name)]
            _set(key, (headers, response.content))
            response["X-Page-Cache"] = "miss"
            # PageCacheMiddleware stores it again with the headers the other middleware adds.
            response.page_cache_key = key
        return response

    return wrapper


def _from_cache(hit):
    headers, body = hit
    response = HttpResponse(body)
    for name, value in headers:
        response[name] = value
    response["X-Page-Cache"] = "hit"
    return response


class PageCacheMiddleware:
    """Serves cached pages before the session, CSRF, auth and messages middleware run.

    Optional: placed right after WhiteNoiseMiddleware it makes a hit cost about
    as much as a static file. It only ever serves what cache_for_readers
    stored for the same key, and stores the final response (CSP, frame and
    Vary headers included) of the views that decorator marked cacheable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_cacheable_request(request):
            key = page_key(request)
            hit = _get(key) if key else None
            if hit is not None:
                return _from_cache(hit)
        response = self.get_response(request)
        key = getattr(response, "page_cache_key", None)
        if key and _is_cacheable_response(request, response):
            headers = [(name, value) for name, value in response.items() if name != "X-Page-Cache"]
            _set(key, (headers, response.content))
        return response
