"""The public OpenAPI document says what the API does (issue 14): the media type of its
errors, every status and header it answers with, real descriptions and examples."""

import json

import pytest

from common.api.views import CallerAPIView
from gateway_project.gateway.views import OPENAPI_FILE

PROBLEM = "application/problem+json"
DOCUMENT = json.loads(OPENAPI_FILE.read_text())
OPERATIONS = {
    (method.upper(), path): operation
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
}


def deref(node: dict) -> dict:
    """`node` with its $ref followed (within this document), repeatedly."""
    while "$ref" in node:
        target = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def responses(operation: dict) -> dict[str, dict]:
    return {status: deref(response) for status, response in operation["responses"].items()}


# The HTTP server's own refusals of a request too large to read: HTML, no X-Request-Id.
SERVER = {"414", "431"}


def test_every_error_is_documented_as_problem_details():
    for key, operation in OPERATIONS.items():
        for status, response in responses(operation).items():
            if status in SERVER:
                assert list(response["content"]) == ["text/html"], (key, status)
                assert "not problem details" in response["description"]
                continue
            if key == ("GET", "/orders/{order_id}/events") and status in ("200", "204"):
                # The live status stream (text/event-stream), or nothing more to send.
                expected = ["text/event-stream"] if status == "200" else []
                assert list(response.get("content", {})) == expected, (key, status)
                continue
            if int(status) < 400:
                assert list(response["content"]) == ["application/json"], (key, status)
                continue
            assert list(response["content"]) == [PROBLEM], (key, status)
            media = response["content"][PROBLEM]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (key, status)
            for example in media["examples"].values():
                assert example["value"]["status"] == int(status), (key, status)
                assert example["value"]["type"].startswith("urn:problem:"), (key, status)


def test_the_gateways_own_answers_are_shared_components():
    for operation in OPERATIONS.values():
        for status, name in [
            ("411", "LengthRequired"),
            ("413", "PayloadTooLarge"),
            ("429", "TooManyRequests"),
            ("503", "ServiceUnavailable"),
            ("504", "GatewayTimeout"),
            ("414", "UriTooLong"),
            ("431", "RequestHeaderFieldsTooLarge"),
        ]:
            assert operation["responses"][status] == {"$ref": f"#/components/responses/{name}"}
    unavailable = DOCUMENT["components"]["responses"]["ServiceUnavailable"]
    codes = {e["value"]["type"] for e in unavailable["content"][PROBLEM]["examples"].values()}
    assert {"urn:problem:upstream-unavailable", "urn:problem:database-unavailable"} <= codes


@pytest.mark.parametrize(
    ("operation", "statuses"),
    [
        (("POST", "/accounts"), {"201", "400", "406", "409", "415"}),
        (("POST", "/accounts/deposit"), {"200", "400", "404", "406", "409", "415", "422"}),
        (("GET", "/accounts/balance"), {"200", "400", "404", "406"}),
        (("POST", "/orders"), {"201", "400", "406", "409", "415", "422"}),
        (("GET", "/orders"), {"200", "400", "406"}),
        (("GET", "/orders/{order_id}"), {"200", "400", "404", "406"}),
    ],
)
def test_each_operation_documents_the_statuses_its_code_can_answer(operation, statuses):
    gateway = {"411", "413", "414", "429", "431", "503", "504"}

    assert set(OPERATIONS[operation]["responses"]) == statuses | gateway


def test_problem_codes_are_documented_where_they_happen():
    def codes(key, status):
        examples = responses(OPERATIONS[key])[status]["content"][PROBLEM]["examples"]
        return {
            example["value"]["type"].removeprefix("urn:problem:") for example in examples.values()
        }

    assert codes(("POST", "/accounts/deposit"), "422") == {
        "idempotency-key-reused",
        "balance-limit-exceeded",
    }
    assert codes(("POST", "/orders"), "409") == {"idempotency-key-busy"}
    assert codes(("POST", "/accounts"), "409") == {"account-exists"}
    assert codes(("POST", "/orders"), "400") == {"validation-error", "malformed-request"}
    assert codes(("GET", "/orders/{order_id}"), "404") == {"order-not-found"}


def test_every_response_carries_x_request_id_and_routed_ones_the_rate_limit_headers():
    request_id = DOCUMENT["components"]["headers"]["X-Request-Id"]
    assert request_id["required"] is True
    for key, operation in OPERATIONS.items():
        for status, response in responses(operation).items():
            if status in SERVER:
                assert "headers" not in response
                continue
            headers = response["headers"]
            assert headers["X-Request-Id"] == {"$ref": "#/components/headers/X-Request-Id"}
            if status not in ("411", "413", "503", "504"):  # the gateway's own refusals
                assert {"RateLimit", "RateLimit-Policy"} <= set(headers), (key, status)


def test_the_headers_each_operation_answers_with_are_documented():
    def headers(key, status):
        return {
            name: deref(header)
            for name, header in responses(OPERATIONS[key])[status]["headers"].items()
        }

    created = headers(("POST", "/orders"), "201")
    assert created["Location"]["required"] is True
    assert created["Idempotent-Replayed"]["schema"]["enum"] == ["true"]
    assert "Idempotent-Replayed" in headers(("POST", "/accounts/deposit"), "200")
    assert "Link" in headers(("GET", "/orders"), "200")
    too_many = headers(("POST", "/orders"), "429")
    for name in ("Retry-After", "RateLimit", "RateLimit-Policy"):
        assert too_many[name]["required"] is True
    assert "Retry-After" in headers(("GET", "/orders"), "503")


def test_operations_and_request_bodies_are_described_for_clients_not_by_internal_docstrings():
    internal = CallerAPIView.__doc__.split(";")[0]
    for key, operation in OPERATIONS.items():
        assert operation["summary"], key
        assert operation["description"], key
        assert internal not in operation["description"], key
    for name, schema in DOCUMENT["components"]["schemas"].items():
        assert "serializer" not in schema.get("description", "").lower(), name


def test_the_orders_example_is_one_array_of_orders():
    content = OPERATIONS[("GET", "/orders")]["responses"]["200"]["content"]["application/json"]
    for example in content["examples"].values():
        orders = example["value"]
        assert isinstance(orders, list)
        assert all(isinstance(order, dict) for order in orders)
        assert len({order["id"] for order in orders}) == len(orders)


def test_query_parameters_and_request_bodies_say_what_is_accepted():
    parameters = {p["name"]: p for p in OPERATIONS[("GET", "/orders")]["parameters"]}
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "default": 50,
    }
    assert parameters["cursor"]["schema"]["maxLength"] == 200
    assert parameters["X-User-Id"]["schema"]["pattern"] == "^[A-Za-z0-9._-]{1,64}$"
    for name in ("DepositRequest", "OrderCreateRequest"):
        body = DOCUMENT["components"]["schemas"][name]
        assert body["additionalProperties"] is False
        # A decimal string or a JSON number, as MoneyField reads it.
        kinds = [option["type"] for option in body["properties"]["amount"]["oneOf"]]
        assert kinds == ["string", "number"]
    account = OPERATIONS[("POST", "/accounts")]["requestBody"]
    assert account.get("required", False) is False
    assert account["content"]["application/json"]["schema"]["additionalProperties"] is False


def test_the_document_loads_in_schemathesis():
    import schemathesis

    schema = schemathesis.openapi.from_dict(DOCUMENT)
    loaded = {
        (result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()
    }
    assert loaded == set(OPERATIONS)
