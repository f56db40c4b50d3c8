from django.urls import path

from . import views

app_name = "questions"
urlpatterns = [
    path("", views.home, name="home"),
    path("categories/<slug:slug>/", views.category, name="category"),
    path("questions/<slug:slug>/", views.detail, name="detail"),
    path("questions/<slug:slug>/trajectory/", views.trajectory_fragment, name="trajectory"),
    path("questions/<slug:slug>/trajectory.json", views.trajectory_json, name="trajectory-json"),
    path("questions/<slug:slug>/track-record/", views.track_record, name="track-record"),
    path("questions/<slug:slug>/editor/", views.editor_tools, name="editor-tools"),
    path("questions/<slug:slug>/run-now/", views.run_now, name="run-now"),
]
