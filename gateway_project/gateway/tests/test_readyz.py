"""The gateway is ready only when every service says it is: a service whose /readyz answers
503 (its database is down: common/tests/test_readyz.py) makes the gateway's /readyz 503."""

import pytest


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_readyz_is_503_when_a_service_is_not_ready(client, upstreams, service):
    upstreams[service].status = 503

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    checks = response.json()["checks"]
    assert checks[service] == "not ready (503)"
    assert [state for name, state in checks.items() if name != service] == ["ok"]
    assert [call["path"] for call in upstreams[service].seen] == ["/readyz"]
