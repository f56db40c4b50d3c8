from django.urls import path

from . import views

app_name = "forecasts"
urlpatterns = [
    path("models/", views.models, name="models"),
    path("methodology/", views.methodology, name="methodology"),
]
