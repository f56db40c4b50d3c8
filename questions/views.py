from django.http import HttpResponse


def home(request):
    return HttpResponse("home")


def category(request, slug):
    return HttpResponse("category")


def detail(request, slug):
    return HttpResponse("detail")
