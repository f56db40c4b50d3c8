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

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

from questions.services import bump_content_generation, content_generation

__all__ = ["bump_content_generation", "cache_for_readers", "is_cacheable_request", "page_key"]

# Headers the view set that a cached copy must carry again; the middleware
# (security headers, CSP) runs on every response, cached or not.
_KEPT_HEADERS = ("Content-Type", "Vary", "Cache-Control", "Content-Language", "Last-Modified", "ETag")


def _seconds():
    return getattr(settings, "PAGE_CACHE_SECONDS", settings.CACHE_SECONDS)


def is_cacheable_request(request):
    if request.method != "GET" or _seconds() <= 0:
        return False
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME not in cookies and "messages" not in cookies


def page_key(request):
    is_htmx = request.headers.get("HX-Request") == "true"
    digest = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    return f"page:{content_generation()}:{'hx' if is_htmx else 'full'}:{digest}"


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
        hit = cache.get(key)
        if hit is not None:
            headers, body = hit
            response = HttpResponse(body)
            for name, value in headers:
                response[name] = value
            response["X-Page-Cache"] = "hit"
            return response
        response = view(request, *args, **kwargs)
        if hasattr(response, "render") and callable(response.render) and not response.is_rendered:
            response.render()
        # The fragment and the full page share a URL: caches downstream must
        # keep them apart too.
        patch_vary_headers(response, ["HX-Request"])
        if _is_cacheable_response(request, response):
            headers = [(name, response[name]) for name in _KEPT_HEADERS if response.has_header(name)]
            cache.set(key, (headers, response.content), _seconds())
            response["X-Page-Cache"] = "miss"
        return response

    return wrapper
