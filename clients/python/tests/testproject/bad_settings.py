"""The test project with an AUTHD dict missing TARGET: start-up must stop."""

from testproject.settings import *  # noqa: F403

AUTHD = {"TIMEOUT": 2}
