from django.http import HttpResponse


def home(request):
    return HttpResponse("home")


def category(request, slug):
    # The page and its track record live with the scoring code in forecasts.views.
    from forecasts.views import category_page

    return category_page(request, slug)


def detail(request, slug):
    return HttpResponse("detail")
