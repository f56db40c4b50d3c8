from django.conf import settings


def panel_mode(request):
    """Tells every page whether the panel answers live or from recorded replies."""
    return {"panel_is_replay": getattr(settings, "FORECAST_REPLAY", False)}
