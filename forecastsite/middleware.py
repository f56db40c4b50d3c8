"""Requests refused before any view or database sees them."""

from urllib.parse import unquote_to_bytes

from django.http import HttpResponseBadRequest

NUL_MESSAGE = "Bad request: NUL byte in the URL"


def _has_nul(request):
    if "\x00" in request.path_info or "\x00" in request.path:
        return True
    # Decoded as QueryDict would decode it, so %00, a raw NUL and a NUL inside
    # a malformed escape are all seen; no other byte decodes to a NUL.
    query = request.META.get("QUERY_STRING", "")
    return b"\x00" in unquote_to_bytes(query.replace("+", " "))


class RejectNulBytesMiddleware:
    """Answers 400 to a URL holding a NUL byte.

    PostgreSQL refuses NUL in text, so a filter or lookup given one would
    otherwise end in a 500 from whichever query met it first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
