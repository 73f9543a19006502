from django.apps import AppConfig


class FieldcollectConfig(AppConfig):
    name = "fieldcollect"
    verbose_name = "Field collection"
