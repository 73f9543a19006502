from django.apps import AppConfig


class HabitatsConfig(AppConfig):
    name = "habitats"
    verbose_name = "Habitats and taxa (reference data)"
