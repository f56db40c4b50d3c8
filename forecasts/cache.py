"""A page cache for anonymous readers, invalidated by the content generation.

Readers are anonymous and read far more than editors write, so the public
pages (home, category, a question's page and its fragments, the trajectory
JSON, the feeds) are kept in Django's cache (Redis in production) under a key
made of the content generation (questions.services), the path with its query
string and whether the request came from HTMX. Any write readers could see
(a new Snapshot or ModelRun, a question's edit, resolution or un-resolution, a
category edit) bumps the generation through signals (api.signals) and the
lifecycle services, so a stale page is never served after the write commits.

What is never cached:
- requests carrying a session cookie: logged-in editors may see other things,
  and a session is the only way to be logged in;
- anything but a plain 200 (errors, redirects, streaming responses);
- a response that sets a cookie or whose rendering used the CSRF token. A
  cached page would hand one visitor's token, which unmasks to their secret,
  to everyone; base.html therefore leaves the token out for anonymous readers,
  who have nothing to POST.
"""

import functools
import hashlib
import threading
import time
import uuid
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

from questions.services import GENERATION_KEY, bump_content_generation, content_generation

EPOCH_KEY = "page:epoch"

__all__ = [
    "PageCacheMiddleware",
    "bump_content_generation",
    "cache_for_readers",
    "is_cacheable_request",
    "page_key",
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
        hit = cache.get(key)
        if hit is not None:
            local_copies.set(key, hit, _seconds())
    return hit


def _set(key, value):
    cache.set(key, value, _seconds())
    local_copies.set(key, value, _seconds())


def _seconds():
    return getattr(settings, "PAGE_CACHE_SECONDS", settings.CACHE_SECONDS)


def is_cacheable_request(request):
    if request.method != "GET" or _seconds() <= 0:
        return False
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME not in cookies and "messages" not in cookies


def _version():
    """The content generation and the shared cache's epoch, in one round trip.

    The epoch is a random token that disappears with the shared cache: after a
    flush the generation restarts and might meet an old number, but never with
    the old epoch, so no worker's local copy can come back to life.
    """
    values = cache.get_many([GENERATION_KEY, EPOCH_KEY])
    generation, epoch = values.get(GENERATION_KEY), values.get(EPOCH_KEY)
    if generation is None:
        generation = content_generation()
    if epoch is None:
        cache.add(EPOCH_KEY, uuid.uuid4().hex, None)
        epoch = cache.get(EPOCH_KEY)
    return f"{epoch}:{generation}"


def page_key(request):
    is_htmx = request.headers.get("HX-Request") == "true"
    digest = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    return f"page:{_version()}:{'hx' if is_htmx else 'full'}:{digest}"


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
            hit = _get(page_key(request))
            if hit is not None:
                return _from_cache(hit)
        response = self.get_response(request)
        key = getattr(response, "page_cache_key", None)
        if key and _is_cacheable_response(request, response):
            headers = [(name, value) for name, value in response.items() if name != "X-Page-Cache"]
            _set(key, (headers, response.content))
        return response
