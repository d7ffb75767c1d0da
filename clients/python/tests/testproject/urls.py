"""URLs of the test project."""

from django.urls import path

from testproject import views

urlpatterns = [
    path("drf/me", views.Me.as_view()),
    path("drf/open", views.Open.as_view()),
    path("drf/stateless", views.StatelessMe.as_view()),
    path("plain/me", views.plain_me),
    path("login", views.login),
    path("ninja/", views.api.urls),
]
