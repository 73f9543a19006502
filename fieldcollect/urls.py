from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from fieldcollect.api.views import healthz

admin.site.site_header = "Habitat field data"
admin.site.site_title = "Habitat field data"
admin.site.index_title = "Campaigns, relevés and reference data"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("fieldcollect.api.urls")),
    path("api/v1/", include("classification.api.urls")),
    path("api/v1/", include("habitats.api.urls")),
]
