from decimal import Decimal

from django.db import migrations

# A panel of four models reachable through one OpenAI-compatible router
# (OpenRouter's model ids): setting OPENAI_BASE_URL and OPENAI_API_KEY is then
# enough to run it. Editors change seats in the admin.
DEFAULT_PANEL = [
    ("GPT-4o", "openai/gpt-4o", "2.50", "10.00"),
    ("Claude 3.5 Sonnet", "anthropic/claude-3.5-sonnet", "3.00", "15.00"),
    ("Llama 3.1 405B", "meta-llama/llama-3.1-405b-instruct", "0.80", "0.80"),
    ("DeepSeek R1", "deepseek/deepseek-r1", "0.55", "2.19"),
]


def seed_panel(apps, schema_editor):
    PanelModel = apps.get_model("forecasts", "PanelModel")
    if PanelModel.objects.exists():
        return
    for position, (name, model, price_in, price_out) in enumerate(DEFAULT_PANEL):
        PanelModel.objects.create(
            name=name,
            model=model,
            position=position,
            price_in_per_million=Decimal(price_in),
            price_out_per_million=Decimal(price_out),
        )


class Migration(migrations.Migration):
    dependencies = [("forecasts", "0001_initial")]
    operations = [migrations.RunPython(seed_panel, migrations.RunPython.noop)]
