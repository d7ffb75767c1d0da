"""URLs of the example."""

from django.urls import path

from exampleproject import views

urlpatterns = [
    path("api/login", views.Login.as_view()),
    path("api/me", views.Me.as_view()),
]
