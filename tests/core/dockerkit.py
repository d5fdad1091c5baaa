"""What the Docker tests share: the login they run inside the server's container."""

from __future__ import annotations

__all__ = ["LOGIN"]

LOGIN = """
import sys, urllib.error, urllib.parse, urllib.request
data = urllib.parse.urlencode({"username": "admin", "password": sys.argv[1]}).encode()
try:
    with urllib.request.urlopen("http://127.0.0.1:8000/api/auth/login", data=data, timeout=5) as answer:
        print(answer.status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print("down")
"""
"""Logs in as ``admin`` with the password in ``argv[1]`` on the container's own loopback
(whatever networks it has, none included) and prints the status, or ``down``."""
