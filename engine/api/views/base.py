"""What every API view shares: JSON in, the error shape out, the actor of a request."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from engine.api import selectors
from engine.api.parsers import LimitedJSONParser
from engine.api.serializers import ErrorSerializer
from engine.models import WorkflowInstance

ERROR_MEANINGS = {
    400: "invalid input; `extra.errors` (and for a form `extra.problems`) or `extra.fields` says where",
    403: "not signed in, or missing the permission",
    404: "no such object",
    409: "the object's state does not allow it, or someone changed it first",
    413: "the request body is too large",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the error responses an endpoint can give, all in the one error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[code]) for code in statuses}


class EmptyInputSerializer(serializers.Serializer):
    """No fields: the body may be empty or a JSON object, and anything else is refused."""

    class Meta:
        ref_name = "EmptyInput"


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate request data (a 400 with the failing fields when it is wrong)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PermissionsByMethod:
    """Lets one URL read with one set of permissions and write with another."""

    permission_classes: Any = [IsAuthenticated]
    write_permission_classes: Any = [IsAuthenticated]

    def get_permissions(self) -> list[BasePermission]:
        request = getattr(self, "request", None)
        safe = request is None or request.method in ("GET", "HEAD", "OPTIONS")
        classes = self.permission_classes if safe else self.write_permission_classes
        return [permission() for permission in classes]


class ApiView(APIView):
    parser_classes = [LimitedJSONParser]
    permission_classes = [IsAuthenticated]


class ListView(generics.ListAPIView):
    parser_classes = [LimitedJSONParser]
    permission_classes = [IsAuthenticated]

    def is_schema_run(self) -> bool:
        """drf-spectacular builds the view without a real request to learn its model."""
        return getattr(self, "swagger_fake_view", False)


class VisibleInstance:
    """Loads the instance of the URL: 404 when it does not exist, 403 when the user may not see it."""

    def visible_instance(self, request: Request, pk: Any) -> WorkflowInstance:
        instance = selectors.instance_get(instance_id=pk)
        self.check_object_permissions(request, instance)  # type: ignore[attr-defined]
        return instance
