"""The public OpenAPI document against the running system (issue 14): Schemathesis 4, as a
new client would use it, in both authentication modes, must find nothing.

Its four phases: the documented examples; coverage (boundary and invalid values of every
parameter and body field, missing and repeated parameters); fuzzing (generated requests,
valid and invalid); stateful (chains through the links it infers, e.g. POST /orders, then
GET /orders/{order_id} from the `Location`). Every response is held to the checks below: no
5xx, a documented status, content type, body schema and headers, invalid input refused, a
created resource found, and no deleted one served. A bounded number of examples and a fixed
seed keep a run to about a minute per mode and make it repeatable (as far as a live system,
whose ids and times change, allows). The command is in docs/api.md.
"""

import json
import re
import secrets
import subprocess
import time
import uuid

import httpx
import jwt
import pytest

from tests.stack import REPO_ROOT, start_stack, stop_stack, wait_for_status

SCHEMATHESIS = REPO_ROOT / ".venv/bin/schemathesis"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "response_headers_conformance",
    "use_after_free",
    "ensure_resource_availability",
)
# Settings without a command-line option: the statuses that count as refusing invalid data.
CONFIG = REPO_ROOT / "tests/schemathesis.toml"
MAX_EXAMPLES = 100
SEED = 14
JWT_SECRET = secrets.token_urlsafe(48)


def schemathesis(base_url: str, header: str, report_dir) -> subprocess.CompletedProcess:
    """`schemathesis run` against a gateway's /openapi.json, with one header on every call
    (who the caller is); a JUnit report in `report_dir`."""
    return subprocess.run(  # noqa: S603 - the venv's own schemathesis
        [
            str(SCHEMATHESIS),
            f"--config-file={CONFIG}",
            "run",
            f"{base_url}/openapi.json",
            "--phases=examples,coverage,fuzzing,stateful",
            f"--checks={','.join(CHECKS)}",
            f"--max-examples={MAX_EXAMPLES}",
            f"--seed={SEED}",
            "--generation-database=none",
            # One worker: with several, Schemathesis 4.32's coverage phase can fail on its own
            # (a Hypothesis cache shared between threads), which is no finding about the API.
            "--workers=1",
            "--request-timeout=15",
            "--no-color",
            "--report=junit",
            f"--report-dir={report_dir}",
            f"--header={header}",
        ],
        cwd=report_dir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_no_failure(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-30000:]
    # A run that tested nothing would pass too: every operation was tested, and the stateful
    # phase chained operations (POST /orders, then GET /orders/{order_id} from the answer).
    document = json.loads((REPO_ROOT / "gateway_project/gateway/openapi.json").read_text())
    operations = sum(len(item) for item in document["paths"].values())
    assert re.search(rf"Tested: {operations}\b", output), output[-5000:]
    assert re.search(r"Scenarios: +[1-9]", output), output[-5000:]
    assert re.search(r"\d+ generated, \d+ passed", output), output[-5000:]


def test_what_schemathesis_first_found_is_fixed(stack):
    """The issue's findings, on the running system: HEAD beside GET (through gunicorn and
    the gateway's keep-alive pool), a repeated parameter, the errors' media type."""
    caller = {"X-User-Id": f"head-{uuid.uuid4()}"}
    with httpx.Client(base_url=stack.gateway_url, headers=caller, timeout=10) as gateway:
        order = gateway.post("/orders", json={"amount": "1", "description": "tea"})
        # Terminal first: a GET and a HEAD on either side of its payment differ in length.
        assert wait_for_status(gateway, order.headers["Location"])["status"] == "CANCELLED"
        for path in ("/orders", order.headers["Location"], "/orders?limit=1"):
            get, head = gateway.get(path), gateway.head(path)
            assert (head.status_code, head.content) == (200, b"")
            assert head.headers["Content-Length"] == str(len(get.content))
            assert head.headers["Content-Type"] == get.headers["Content-Type"]
        repeated = gateway.get("/orders?limit=0.0&limit=false&limit=")
        assert repeated.status_code == 400
        assert repeated.headers["Content-Type"] == "application/problem+json"
        assert list(repeated.json()["errors"]) == ["limit"]
        assert gateway.get("/orders").status_code == 200  # the connection is still sound
        # A request line over the HTTP server's limit: its own short HTML page, as documented.
        too_long = gateway.get("/orders", params={"cursor": "x" * 5000})
        assert too_long.status_code == 414
        assert too_long.headers["Content-Type"] == "text/html"


def test_the_document_holds_in_header_mode(stack, tmp_path):
    user = f"schemathesis-{uuid.uuid4()}"

    result = schemathesis(stack.gateway_url, f"X-User-Id: {user}", tmp_path)

    assert_no_failure(result)


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("schemathesis-jwt"),
        GATEWAY_AUTH="jwt",
        GATEWAY_JWT_SECRET=JWT_SECRET,
    )
    yield stack
    stop_stack(stack)


def test_the_document_holds_in_jwt_mode(jwt_stack, tmp_path):
    token = jwt.encode(
        {"sub": f"schemathesis-{uuid.uuid4()}", "exp": int(time.time()) + 3600},
        JWT_SECRET,
        algorithm="HS256",
    )
    document = httpx.get(f"{jwt_stack.gateway_url}/openapi.json").json()
    assert "bearerAuth" in document["components"]["securitySchemes"]

    result = schemathesis(jwt_stack.gateway_url, f"Authorization: Bearer {token}", tmp_path)

    assert_no_failure(result)
