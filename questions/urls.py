from django.urls import path

from forecasts.views import category_page

from . import views

app_name = "questions"
urlpatterns = [
    path("", views.home, name="home"),
    # The page lives with the scoring code that fills it.
    path("categories/<slug:slug>/", category_page, name="category"),
    path("questions/<slug:slug>/", views.detail, name="detail"),
    path("questions/<slug:slug>/trajectory/", views.trajectory_fragment, name="trajectory"),
    path("questions/<slug:slug>/trajectory.json", views.trajectory_json, name="trajectory-json"),
    path("questions/<slug:slug>/track-record/", views.track_record, name="track-record"),
    path("questions/<slug:slug>/editor/", views.editor_tools, name="editor-tools"),
    path("questions/<slug:slug>/run-now/", views.run_now, name="run-now"),
]
