from django.urls import path

from . import feeds

app_name = "feeds"
urlpatterns = [
    path("", feeds.ForecastFeed(), name="latest"),
    path("atom/", feeds.ForecastAtomFeed(), name="latest-atom"),
    path("movers/", feeds.MoversFeed(), name="movers"),
    path("movers/atom/", feeds.MoversAtomFeed(), name="movers-atom"),
    path("categories/<slug:slug>/", feeds.CategoryFeed(), name="category"),
    path("categories/<slug:slug>/atom/", feeds.CategoryAtomFeed(), name="category-atom"),
    path("questions/<slug:slug>/", feeds.QuestionFeed(), name="question"),
    path("questions/<slug:slug>/atom/", feeds.QuestionAtomFeed(), name="question-atom"),
]
