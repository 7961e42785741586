#!/usr/bin/env python
"""Django's command-line utility for the API gateway."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # Import from the repository root (common, gateway_project, ...), not from this
    # script's directory, where gateway_project/celery.py would shadow the celery package.
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
