from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from common.api.schema import (
    IDEMPOTENCY_KEY_PARAMETER,
    USER_ID_PARAMETER,
    ProblemDoc,
    problem_responses,
    response_header,
)
from common.api.views import CallerAPIView
from common.idempotency.api import IDEMPOTENCY_PROBLEMS, replayed_header, respond_idempotently
from common.idempotency.services import StoredResponse
from common.observability.http import request_id_of
from orders_project.orders import selectors, services
from orders_project.orders.errors import OrderNotFound
from orders_project.orders.pagination import PageQuerySerializer, next_link
from orders_project.orders.serializers import (
    OrderCreateSerializer,
    OrderSerializer,
    order_representation,
)

ORDER_EXAMPLE = {
    "id": "3f1e2d4c-5b6a-4789-8abc-def012345678",
    "user_id": "u-1",
    "amount": "30.00",
    "description": "Two coffees",
    "status": "NEW",
    "reason": None,
    "created_at": "2026-11-26T12:00:00.000000Z",
    "updated_at": "2026-11-26T12:00:00.000000Z",
}
CANCELLED_EXAMPLE = {
    **ORDER_EXAMPLE,
    "status": "CANCELLED",
    "reason": "insufficient_funds",
    "updated_at": "2026-11-26T12:00:00.021000Z",
}
ORDER_NOT_FOUND = ProblemDoc(
    404,
    OrderNotFound.code,
    "the caller has no order with this id (a malformed id, or another user's order, alike)",
    "No order 3f1e2d4c-5b6a-4789-8abc-def012345678.",
    title=OrderNotFound.title,
)


def order_location(order_id) -> str:
    return f"/orders/{order_id}"


class OrderListCreateView(CallerAPIView):
    query_serializers = {"get": PageQuerySerializer}

    @extend_schema(
        operation_id="order_create",
        summary="Place an order; it is paid asynchronously",
        description=(
            "Creates the caller's order (status NEW) and asks Payments to charge it. The "
            "answer does not wait for the payment: poll `GET /orders/{order_id}` (the "
            "`Location` of the answer) until the status is FINISHED (paid) or CANCELLED "
            "(with the reason). The caller needs no account to order: without one, or "
            "without the money, the order is CANCELLED. Send an `Idempotency-Key` to make "
            "a retry safe."
        ),
        parameters=[
            USER_ID_PARAMETER,
            IDEMPOTENCY_KEY_PARAMETER,
            response_header(
                "Location",
                [201],
                "The new order's path: `/orders/{order_id}`.",
                required=True,
                pattern="^/orders/[0-9a-f-]{36}$",
            ),
            replayed_header(201),
        ],
        request=OrderCreateSerializer,
        responses={
            201: OpenApiResponse(
                OrderSerializer,
                description="Created, status NEW. `Location` names the order; poll it for "
                "FINISHED or CANCELLED.",
            ),
            **problem_responses(*IDEMPOTENCY_PROBLEMS, body=True),
        },
        examples=[
            OpenApiExample(
                "order", value={"amount": "30.00", "description": "Two coffees"}, request_only=True
            ),
            OpenApiExample(
                "created", value=ORDER_EXAMPLE, response_only=True, status_codes=["201"]
            ),
        ],
    )
    def post(self, request):
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def create(_key: str | None) -> StoredResponse:
            order = services.order_create(
                user_id=self.user_id,
                amount=data["amount"],
                description=data["description"],
                request_id=request_id_of(request),
            )
            return StoredResponse(
                status=status.HTTP_201_CREATED,
                body=order_representation(order),
                headers={"Location": order_location(order.id)},
            )

        return respond_idempotently(request, user_id=self.user_id, payload=data, perform=create)

    @extend_schema(
        operation_id="order_list",
        summary="The caller's orders, newest first",
        description=(
            'A plain array, newest first. When more orders follow, a `Link: <...>; rel="next"` '
            "header gives the URL of the next page (its `cursor` is opaque). Each parameter "
            "may be given once; any other query parameter is refused (400). HEAD answers as "
            "GET does, without the body."
        ),
        parameters=[
            USER_ID_PARAMETER,
            PageQuerySerializer,
            response_header(
                "Link",
                [200],
                'The next page, when there is one: `</orders?limit=50&cursor=...>; rel="next"`.',
            ),
        ],
        responses={200: OrderSerializer(many=True), **problem_responses()},
        # drf-spectacular lists a list operation's example itself: one order here is
        # shown as a page of one.
        examples=[OpenApiExample("orders", value=ORDER_EXAMPLE, response_only=True)],
    )
    def get(self, request):
        limit = self.query["limit"]
        # One more than asked tells whether a next page exists, without a COUNT.
        orders = selectors.orders_page(
            user_id=self.user_id, limit=limit + 1, after=self.query.get("cursor")
        )
        page, more = orders[:limit], len(orders) > limit
        headers = {"Link": next_link(request, limit=limit, last=page[-1])} if more else {}
        return Response([order_representation(order) for order in page], headers=headers)


class OrderDetailView(CallerAPIView):
    @extend_schema(
        operation_id="order_get",
        summary="One of the caller's orders",
        description=(
            "The order with its status: NEW while its payment is pending, FINISHED once "
            "paid, CANCELLED with the `reason` (insufficient_funds, account_not_found). "
            "Another user's order is a 404, as an unknown id is. HEAD answers as GET does, "
            "without the body."
        ),
        parameters=[
            USER_ID_PARAMETER,
            OpenApiParameter(
                "order_id",
                {"type": "string", "format": "uuid"},
                OpenApiParameter.PATH,
                description="The order's `id`; any other value is a 404.",
            ),
        ],
        responses={200: OrderSerializer, **problem_responses(ORDER_NOT_FOUND)},
        examples=[OpenApiExample("cancelled", value=CANCELLED_EXAMPLE, response_only=True)],
    )
    def get(self, request, order_id: str):
        order = selectors.order_get(user_id=self.user_id, order_id=order_id)
        return Response(order_representation(order))
