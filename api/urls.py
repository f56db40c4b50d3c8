from django.urls import path

from . import views

app_name = "api"
urlpatterns = [
    path("openapi.json", views.openapi, name="openapi"),
    path("v1/", views.index, name="index"),
    path("v1/categories/", views.categories, name="categories"),
    path("v1/questions/", views.questions, name="questions"),
    path("v1/questions/<slug:slug>/", views.question, name="question"),
    path("v1/questions/<slug:slug>/snapshots/", views.snapshots, name="snapshots"),
    path("v1/questions/<slug:slug>/model-runs/", views.model_runs, name="model-runs"),
    path("v1/questions/<slug:slug>/trajectory.csv", views.trajectory_csv, name="trajectory-csv"),
    path("v1/questions/<slug:slug>/model-runs.csv", views.model_runs_csv, name="model-runs-csv"),
    path("v1/track-records/", views.track_records, name="track-records"),
]
