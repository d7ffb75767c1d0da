"""Views behind each of authd's classes; each answers who is asking."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from ninja import NinjaAPI
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import authd.ninja
from authd.django import AuthdStatelessAuthentication


def _who(user: Any, claims: Any) -> dict[str, Any]:
    return {
        "username": user.get_username(),
        "pk": user.pk,
        "sub": getattr(claims, "sub", None),
        "roles": list(getattr(claims, "roles", ())),
        "principal_type": getattr(claims, "principal_type", None),
    }


class Me(APIView):
    """DRF, authenticated by the default class (AuthdAuthentication)."""

    def get(self, request: Request) -> Response:
        return Response(_who(request.user, request.auth))


class StatelessMe(APIView):
    """DRF, authenticated in process by AuthdStatelessAuthentication (no Verify call)."""

    authentication_classes = (AuthdStatelessAuthentication,)

    def get(self, request: Request) -> Response:
        return Response(_who(request.user, request.auth))


class Open(APIView):
    """DRF, open to anyone: a bad token is still a 401, authd down still a 503."""

    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"authenticated": bool(user and user.is_authenticated)})


def plain_me(request: HttpRequest) -> HttpResponse:
    """A plain view: request.user from AuthdMiddleware."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "anonymous"}, status=401)
    return JsonResponse(_who(request.user, request.authd_claims))  # type: ignore[attr-defined]


@csrf_exempt
@require_POST
def login(request: HttpRequest) -> HttpResponse:
    """The classic token login: username and password in, authd's access token out."""
    body = json.loads(request.body or b"{}")
    try:
        user = authenticate(request, username=body.get("username"), password=body.get("password"))
    except authd.Unavailable:
        return JsonResponse({"detail": "authentication service unavailable"}, status=503)
    if user is None:
        return JsonResponse({"detail": "wrong username or password"}, status=401)
    tokens = user.authd_tokens  # type: ignore[attr-defined]
    return JsonResponse({"access_token": tokens.access_token, "token_type": "Bearer"})


api = NinjaAPI(urls_namespace="ninja-sync")
authd.ninja.install(api)


@api.get("/me", auth=authd.ninja.AuthdBearer())
def ninja_me(request: HttpRequest) -> dict[str, Any]:
    return _who(request.auth, request.authd_claims)  # type: ignore[attr-defined]


@api.get("/async/me", auth=authd.ninja.AsyncAuthdBearer())
async def ninja_async_me(request: HttpRequest) -> dict[str, Any]:
    return _who(request.auth, request.authd_claims)  # type: ignore[attr-defined]
