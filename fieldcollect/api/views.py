"""Account endpoints of the API and the health probe."""

from django.contrib.auth import authenticate
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from fieldcollect.api.errors import ApiError
from fieldcollect.api.serializers import MeSerializer, TokenRequestSerializer, TokenResponseSerializer
from fieldcollect.models import DeviceToken, Role, User
from fieldcollect.selectors import health_status
from fieldcollect.services.accounts import device_token_issue, device_token_revoke


class LoginThrottle(AnonRateThrottle):
    rate = "20/min"


def _roles(user) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(user.groups.filter(name__in=Role.values).values_list("name", flat=True))


class TokenView(APIView):
    """Log a device in (username + password) for a per-device token, or revoke the current one."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=TokenRequestSerializer, responses={201: TokenResponseSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:
            raise ApiError(code="bad_credentials", message="Unknown user or wrong password.", status_code=401)
        _, key = device_token_issue(user=user, device_id=data["device_id"])
        body = {"token": key, "device_id": data["device_id"], "username": user.username, "roles": _roles(user)}
        return Response(TokenResponseSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, DeviceToken):
            raise ApiError(code="not_token_auth", message="Only a device token can revoke itself.", status_code=400)
        device_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_permissions(self):  # type: ignore[no-untyped-def]
        if self.request.method == "DELETE":
            return [permissions.IsAuthenticated()]
        return super().get_permissions()


class MeView(APIView):
    """Who the caller is, their roles and the campaigns they take part in."""

    @extend_schema(responses=MeSerializer, tags=["auth"])
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)  # IsAuthenticated
        campaigns = [
            {"slug": m.campaign.slug, "name": m.campaign.name, "role": m.role}
            for m in user.campaign_memberships.select_related("campaign").order_by("campaign__slug")
        ]
        return Response(MeSerializer({"username": user.username, "roles": _roles(user), "campaigns": campaigns}).data)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 "ok" when all answer, 200 "degraded" without Redis or Celery, 503 "down" without the database."""
    body = health_status()
    return JsonResponse(body, status=503 if body["status"] == "down" else 200)
