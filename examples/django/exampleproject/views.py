"""A login view that hands out authd's tokens, and a DRF view only a valid token opens."""

from django.contrib.auth import authenticate
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import authd


class Login(APIView):
    """POST {"username", "password"}: authd's access and refresh tokens."""

    permission_classes = (AllowAny,)
    authentication_classes = ()

    def post(self, request: Request) -> Response:
        try:
            user = authenticate(
                request._request,
                username=request.data.get("username"),
                password=request.data.get("password"),
            )
        except authd.ResourceExhausted as throttled:
            # Too many failed logins for this name or address: authd says when to retry.
            wait = str(throttled.retry_after or 1)
            return Response({"detail": "too many attempts"}, status=429, headers={"Retry-After": wait})
        except authd.AuthdError:
            return Response({"detail": "authentication service unavailable"}, status=503)
        if user is None:
            return Response({"detail": "wrong username or password"}, status=401)
        tokens = user.authd_tokens
        return Response(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "token_type": "Bearer",
                "expires_in": tokens.expires_in,
            }
        )


class Me(APIView):
    """GET with Authorization: Bearer <access token> (or Token <access token>)."""

    def get(self, request: Request) -> Response:
        claims = request.auth
        return Response(
            {
                "username": request.user.get_username(),
                "django_user_id": request.user.pk,
                "authd_user_id": claims.sub,
                "roles": list(claims.roles),
                "expires_at": claims.exp,
            }
        )
