from django.urls import path
from rest_framework.routers import SimpleRouter

from habitats.api import views

router = SimpleRouter()
router.register("typologies", views.TypologyViewSet, basename="typology")
router.register("relation-types", views.RelationTypeViewSet, basename="relation-type")
router.register("habitat-units", views.HabitatUnitViewSet, basename="habitat-unit")
router.register("crosswalks", views.CorrespondenceViewSet, basename="crosswalk")
router.register("taxa", views.TaxonViewSet, basename="taxon")
router.register("characteristic-species", views.CharacteristicSpeciesViewSet, basename="characteristic-species")
router.register("legends", views.MapLegendViewSet, basename="legend")

urlpatterns = [
    path("sync/reference/", views.ReferenceBundleView.as_view(), name="sync-reference"),
    *router.urls,
]
