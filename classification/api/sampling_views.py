"""Visit reports from the field: a botanist marks an assigned sample point visited, inaccessible or refused."""

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classification.models import SamplePoint, VisitState
from classification.sampling import SamplingError
from classification.services.sampling import sample_point_report
from fieldcollect.api.errors import ApiError
from fieldcollect.services.review import user_coordinates


class VisitReportSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=VisitState.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    releve = serializers.UUIDField(required=False, allow_null=True, default=None)
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)


def point_payload(point: SamplePoint) -> dict[str, Any]:
    return {
        "id": point.pk,
        "plan": point.plan_id,
        "number": point.number,
        "state": point.state,
        "reason": point.reason,
        "releve_uuid": str(point.releve_uuid) if point.releve_uuid else None,
        "visited_at": point.visited_at.isoformat() if point.visited_at else None,
    }


class SamplePointReportView(APIView):
    """Report the visit of a sample point (the tablet's "visited / inaccessible / refused" buttons)."""

    @extend_schema(
        tags=["sampling"],
        summary="Report a sample point visit",
        description=(
            "The botanist the point is assigned to (or a coordinator of its campaign) reports it `visited` "
            "(optionally with the `releve` UUID made there), `inaccessible` or `refused` (a `reason` is "
            "required). A coordinator may reopen it (`pending`). Pushing a relevé whose `sample_point` is "
            "the point's id marks it visited as well. The new state reaches the tablets through pull."
        ),
        request=VisitReportSerializer,
        examples=[
            OpenApiExample("Inaccessible", value={"state": "inaccessible", "reason": "Fenced pasture, no access"})
        ],
        responses={200: dict, 400: OpenApiResponse(description="Invalid report"), 404: dict},
    )
    def post(self, request: Request, point_id: int) -> Response:
        point = SamplePoint.objects.select_related("plan").filter(pk=point_id).first()
        if point is None or not (
            point.assignee_id == request.user.pk
            or user_coordinates(user=request.user, campaign_id=point.plan.campaign_id)  # type: ignore[arg-type]
        ):
            raise ApiError(code="not_found", message="No such sample point assigned to you.", status_code=404)
        serializer = VisitReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            with transaction.atomic():
                point = sample_point_report(
                    actor=request.user,  # type: ignore[arg-type]
                    point=point,
                    state=data["state"],
                    reason=data["reason"],
                    releve_uuid=data["releve"],
                    at=data["at"],
                )
        except SamplingError as exc:
            field = "reason" if exc.code == "reason_required" else "state"
            status_code = 403 if exc.code in ("not_assigned", "not_allowed") else 400
            raise ApiError(
                code=exc.code, message=exc.message, status_code=status_code, errors={field: [exc.message]}
            ) from exc
        return Response(point_payload(point))
