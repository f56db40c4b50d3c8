from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("feeds/", include("questions.feed_urls")),
    path("api/", include("api.urls")),
    path("", include("questions.urls")),
    path("", include("forecasts.urls")),
]
