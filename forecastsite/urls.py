from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path


def favicon(request):
    # Resolved per request: with manifest storage the hashed name exists only after collectstatic.
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name none (the admin's).
    path("favicon.ico", favicon),
    path("feeds/", include("questions.feed_urls")),
    path("api/", include("api.urls")),
    path("", include("questions.urls")),
    path("", include("forecasts.urls")),
]
