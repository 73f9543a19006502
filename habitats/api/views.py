"""Read-only reference API: typologies, habitat units (search, subtree, ancestors, crosswalk), taxa
(autocomplete, accepted name), crosswalks, characteristic species, legends, and the tablets' bundle."""

import gzip

from django.db.models import F
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldcollect.api.errors import ApiError
from habitats import selectors
from habitats.api import filters
from habitats.api.serializers import (
    CharacteristicSpeciesSerializer,
    CorrespondenceSerializer,
    CrosswalkTargetSerializer,
    HabitatUnitDetailSerializer,
    HabitatUnitSerializer,
    MapLegendSerializer,
    RelationTypeSerializer,
    TaxonSerializer,
    TypologySerializer,
)
from habitats.models import (
    CharacteristicSpecies,
    Correspondence,
    HabitatUnit,
    MapClass,
    MapLegend,
    RelationType,
    Taxon,
    Typology,
)
from habitats.services.reference_bundle import UnknownReferenceVersion, reference_bundle_get


def _int_param(request: Request, name: str, *, required: bool = False, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if required:
            raise ApiError(
                code="invalid", message=f"{name} is required.", errors={name: ["This parameter is required."]}
            )
        return None
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ApiError(
            code="invalid",
            message=f"{name} must be an integer ≥ {minimum}.",
            errors={name: [f"Not an integer ≥ {minimum}."]},
        )
    return value


class TypologyViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Typology.objects.all()
    serializer_class = TypologySerializer
    filterset_fields = ["cd_typo"]


class RelationTypeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = RelationType.objects.order_by("cd_type_rel")
    serializer_class = RelationTypeSerializer
    filterset_fields = ["between_habitats", "habitat_to_species"]


SEARCH_PARAMS = [
    OpenApiParameter("q", str, required=True, description="code or name prefix, accent-insensitive"),
    OpenApiParameter("typology", int),
    OpenApiParameter("in_france", bool),
    OpenApiParameter("limit", int, description="at most 100 (default 20)"),
]


class HabitatUnitViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = HabitatUnit.objects.order_by("typology_id", "code", "cd_hab")
    serializer_class = HabitatUnitSerializer
    filterset_class = filters.HabitatUnitFilter

    def get_serializer_class(self):
        return HabitatUnitDetailSerializer if self.action == "retrieve" else HabitatUnitSerializer

    @extend_schema(parameters=SEARCH_PARAMS, responses=HabitatUnitSerializer(many=True))
    @action(detail=False, filter_backends=[], pagination_class=None)
    def search(self, request: Request) -> Response:
        """Prefix search on codes and on the words of the French and English names (best matches first)."""
        query = request.query_params.get("q", "").strip()
        if not query:
            raise ApiError(code="invalid", message="q is required.", errors={"q": ["This parameter is required."]})
        in_france = request.query_params.get("in_france")
        units = selectors.habitat_unit_search(
            query=query,
            typology=_int_param(request, "typology"),
            in_france=None if in_france is None else in_france.lower() in {"1", "true", "yes"},
            limit=min(_int_param(request, "limit", minimum=1) or selectors.SEARCH_LIMIT, 100),
        )
        return Response(HabitatUnitSerializer(units, many=True).data)

    @extend_schema(responses=HabitatUnitSerializer(many=True))
    @action(detail=True, filter_backends=[])
    def subtree(self, request: Request, pk: str | None = None) -> Response:
        """The unit and all the units below it (paginated, by path)."""
        units = selectors.habitat_unit_subtree(unit=self.get_object()).order_by("path")
        page = self.paginate_queryset(units)
        return self.get_paginated_response(HabitatUnitSerializer(page, many=True).data)

    @extend_schema(responses=HabitatUnitSerializer(many=True))
    @action(detail=True, filter_backends=[], pagination_class=None)
    def ancestors(self, request: Request, pk: str | None = None) -> Response:
        """The unit's ancestors, root first."""
        return Response(HabitatUnitSerializer(selectors.habitat_unit_ancestors(unit=self.get_object()), many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("typology", int, required=True, description="CD_TYPO of the target typology")],
        responses=CrosswalkTargetSerializer(many=True),
    )
    @action(detail=True, filter_backends=[], pagination_class=None)
    def crosswalk(self, request: Request, pk: str | None = None) -> Response:
        """The units of another typology HABREF relates to this one, with the relation type."""
        typology = _int_param(request, "typology", required=True) or 0
        if not Typology.objects.filter(pk=typology).exists():
            raise ApiError(
                code="unknown_typology", message=f"Typology {typology} is unknown.", errors={"typology": ["Unknown."]}
            )
        targets = selectors.habitat_unit_crosswalk(unit=self.get_object(), typology=typology)
        return Response(CrosswalkTargetSerializer(targets, many=True).data)


class TaxonViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Taxon.objects.order_by("name", "cd_nom")
    serializer_class = TaxonSerializer
    filterset_class = filters.TaxonFilter

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="name prefix; words may be abbreviated: 'que pub'"),
            OpenApiParameter("accepted", bool, description="accepted names only"),
            OpenApiParameter("limit", int, description="at most 100 (default 20)"),
        ],
        responses=TaxonSerializer(many=True),
    )
    @action(detail=False, filter_backends=[], pagination_class=None)
    def autocomplete(self, request: Request) -> Response:
        """Taxa whose name without author starts with the query; accepted names first."""
        query = request.query_params.get("q", "").strip()
        if not query:
            raise ApiError(code="invalid", message="q is required.", errors={"q": ["This parameter is required."]})
        taxa = selectors.taxon_autocomplete(
            query=query,
            accepted_only=request.query_params.get("accepted", "").lower() in {"1", "true", "yes"},
            limit=min(_int_param(request, "limit", minimum=1) or selectors.SEARCH_LIMIT, 100),
        )
        return Response(TaxonSerializer(taxa, many=True).data)

    @extend_schema(responses=TaxonSerializer)
    @action(detail=True, filter_backends=[], pagination_class=None)
    def accepted(self, request: Request, pk: str | None = None) -> Response:
        """The accepted name of this taxon (itself when it is accepted)."""
        taxon = self.get_object()
        return Response(TaxonSerializer(selectors.taxon_accepted(cd_nom=taxon.pk) or taxon).data)


class CorrespondenceViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Correspondence.objects.select_related("relation").order_by("cd_corresp")
    serializer_class = CorrespondenceSerializer
    filterset_class = filters.CorrespondenceFilter


class CharacteristicSpeciesViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = CharacteristicSpecies.objects.order_by("habitat_code", "kind", F("value").desc(), "species_name")
    serializer_class = CharacteristicSpeciesSerializer
    filterset_class = filters.CharacteristicSpeciesFilter


class LegendUnitsSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    code = serializers.CharField()
    units = serializers.ListField(child=serializers.IntegerField(), help_text="CD_HAB of the units in this class")


class MapLegendViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = MapLegend.objects.prefetch_related("classes__rules__unit")
    serializer_class = MapLegendSerializer
    filterset_fields = ["name", "is_active"]

    @extend_schema(parameters=[OpenApiParameter("typology", int)], responses=LegendUnitsSerializer(many=True))
    @action(detail=True, filter_backends=[], pagination_class=None)
    def units(self, request: Request, pk: str | None = None) -> Response:
        """For each class, the habitat units its rules resolve to (most specific rule wins)."""
        legend = self.get_object()
        by_class = selectors.legend_units_by_class(legend=legend, typology=_int_param(request, "typology"))
        classes = MapClass.objects.filter(legend=legend).order_by("value")
        return Response([{"value": c.value, "code": c.code, "units": by_class.get(c.pk, [])} for c in classes])


class ReferenceBundleView(APIView):
    """``GET /api/v1/sync/reference/``: the tablets' reference data (SYNC_PROTOCOL.md)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("since", int, description="reference version the tablet holds; omit for everything"),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="ETag of the copy held"),
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, 304: None},
        description=(
            "Typologies, relation types, habitat units, taxa, active map legends (classes and the class of every "
            "unit) and the caller's campaigns. With `since`, only rows changed after that reference version; "
            "`legends` then holds the complete active legends whenever anything changed, replacing the tablet's "
            "copy. `reference_version` is the value to send as `since` next time. ETag/If-None-Match answers 304; "
            "the body is gzip-encoded when the client accepts it."
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        since = _int_param(request, "since")
        try:
            bundle = reference_bundle_get(
                user=request.user, since=since, if_none_match=request.headers.get("If-None-Match")
            )
        except UnknownReferenceVersion as exc:
            raise ApiError(code="unknown_reference_version", message=str(exc), errors={"since": [str(exc)]}) from exc
        headers = {
            "ETag": bundle.etag,
            "Cache-Control": "private, no-cache",
            "Vary": "Accept-Encoding, Authorization, Cookie",
            "X-Reference-Version": str(bundle.reference_version),
        }
        if bundle.gzipped is None:
            return HttpResponse(status=304, headers=headers)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return HttpResponse(
                bundle.gzipped, content_type="application/json", headers={**headers, "Content-Encoding": "gzip"}
            )
        return HttpResponse(gzip.decompress(bundle.gzipped), content_type="application/json", headers=headers)
