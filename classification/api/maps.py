"""Map products: accuracy assessments of finished map runs (modellers, and coordinators for their campaigns)."""

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classification.models import MapRun, SamplingPlan
from classification.selectors import (
    accuracy_assessment_detail,
    accuracy_assessment_list_for_user,
    accuracy_assessment_summary,
    accuracy_may_assess,
)
from fieldcollect.api.errors import ApiError
from fieldcollect.models import User

#: Refusals that are about the state of the run rather than the request.
CONFLICTS = {"run_not_finished", "map_missing"}


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _id(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if value is None or value == "":
        raise ApiError(code="required", message=f"`{field}` is required.", errors={field: ["This field is required."]})
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ApiError(code="invalid", message=f"`{field}` must be an id.", errors={field: ["Not an id."]})
    return int(value)


class AccuracyAssessmentListView(APIView):
    """Assess a finished map run with a validation plan, or list the assessments the caller may read."""

    @extend_schema(
        tags=["maps"],
        summary="Accuracy assessments",
        operation_id="accuracy_assessments_list",
        parameters=[OpenApiParameter("map_run", int, description="Only the assessments of this map run.")],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        assessments = accuracy_assessment_list_for_user(_user(request))
        map_run = request.query_params.get("map_run")
        if map_run is not None:
            if not map_run.isdigit():
                raise ApiError(code="invalid", message="`map_run` must be an id.", errors={"map_run": ["Not an id."]})
            assessments = assessments.filter(map_run_id=int(map_run))
        return Response({"results": [accuracy_assessment_summary(a) for a in assessments[:500]]})

    @extend_schema(
        tags=["maps"],
        summary="Assess a map run",
        description=(
            "Estimate the accuracy and class areas of a finished map run from a validation plan's validated "
            "relevés (Olofsson et al. 2014 when the plan is stratified by the run's classes, Stehman 2014 "
            "otherwise) and store the result. Modellers may assess any run; coordinators with the plans of "
            "the campaigns they coordinate. Points without a usable reference are listed in `exclusions`."
        ),
        request=dict,
        examples=[OpenApiExample("Assess run 12 with plan 7", value={"map_run": 12, "plan": 7})],
        responses={
            201: dict,
            400: OpenApiResponse(
                description="required, invalid, unknown_map_run, unknown_plan, wrong_campaign, empty_plan, "
                "no_usable_point, empty_stratum, stratum_too_small"
            ),
            403: OpenApiResponse(description="permission_denied"),
            409: OpenApiResponse(description="run_not_finished, map_missing"),
        },
    )
    def post(self, request: Request) -> Response:
        user = _user(request)
        if not accuracy_may_assess(user):
            message = "Only modellers and coordinators assess maps."
            raise ApiError(code="permission_denied", message=message, status_code=403)
        data = request.data if isinstance(request.data, dict) else {}
        run_id, plan_id = _id(data, "map_run"), _id(data, "plan")
        run = MapRun.objects.select_related("model__training_set__legend").filter(pk=run_id).first()
        if run is None:
            raise ApiError(code="unknown_map_run", message=f"No map run {run_id}.", errors={"map_run": ["Unknown."]})
        plan = SamplingPlan.objects.select_related("stratification__raster").filter(pk=plan_id).first()
        if plan is None:
            raise ApiError(code="unknown_plan", message=f"No sampling plan {plan_id}.", errors={"plan": ["Unknown."]})
        if not accuracy_may_assess(user, campaign_id=plan.campaign_id):
            raise ApiError(
                code="permission_denied", message="You do not coordinate this plan's campaign.", status_code=403
            )
        # Imported here: the service pulls in rasterio and scikit-learn, which the URLconf should not load.
        from classification.services.accuracy import AccuracyServiceError, accuracy_assessment_run

        try:
            assessment = accuracy_assessment_run(map_run=run, sampling_plan=plan, actor=user)
        except AccuracyServiceError as exc:
            raise ApiError(
                code=exc.code,
                message=exc.message,
                status_code=409 if exc.code in CONFLICTS else 400,
                errors={exc.field: [exc.message]},
            ) from exc
        return Response(accuracy_assessment_detail(assessment), status=201)


class AccuracyAssessmentDetailView(APIView):
    """One assessment: error matrix, estimates with standard errors and 95 % intervals, unused points."""

    @extend_schema(
        tags=["maps"],
        operation_id="accuracy_assessments_retrieve",
        responses={200: dict, 404: OpenApiResponse(description="not_found")},
    )
    def get(self, request: Request, pk: int) -> Response:
        assessment = accuracy_assessment_list_for_user(_user(request)).filter(pk=pk).first()
        if assessment is None:
            raise ApiError(code="not_found", message="No such assessment.", status_code=404)
        return Response(accuracy_assessment_detail(assessment))
