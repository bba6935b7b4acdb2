"""Test-wide settings: on CI (CI=true), hypothesis draws the same examples every run."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
