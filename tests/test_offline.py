"""The app works with every non-loopback connection blocked, and never tries to make one."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.launched_app import LaunchedApp

pytestmark = pytest.mark.slow


def test_it_starts_and_serves_a_logged_in_request_cycle_with_the_network_blocked(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    app = LaunchedApp(data_dir, offline_guard=True).start()
    try:
        # The guard really is active in the app's processes: a lookup of a public name fails.
        probe = app.manage(
            "import socket\n"
            "try:\n"
            "    socket.getaddrinfo('example.org', 443)\n"
            "    print('REACHED')\n"
            "except PermissionError:\n"
            "    print('BLOCKED')\n"
        )
        assert "BLOCKED" in probe
        (data_dir / "blocked-connections.log").unlink()  # the probe's own entry

        app.manage(
            "from django.contrib.auth.models import User; from app.core.roles import grant, RADIOGRAPHER; "
            "grant(User.objects.create_user('radiographer', password='a-long-test-password'), RADIOGRAPHER)"
        )
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(app.url + "login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
        body = urllib.parse.urlencode(
            {"username": "radiographer", "password": "a-long-test-password", "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(app.url + "login/", data=body, headers={"Referer": app.url + "login/"})
        home = opener.open(request, timeout=10)
        assert home.geturl() == app.url
        page = home.read().decode()
        assert "Workstation status" in page
        stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)
        assert opener.open(app.url.rstrip("/") + stylesheet, timeout=10).status == 200
        assert app.get_json("health")["database"]["ok"] is True
    finally:
        assert app.terminate() == 0
    blocked = data_dir / "blocked-connections.log"
    assert not blocked.exists(), f"the app tried to reach the network: {blocked.read_text()}"
