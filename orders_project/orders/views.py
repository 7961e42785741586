from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from common.api.schema import (
    BAD_REQUEST_RESPONSE,
    IDEMPOTENCY_KEY_PARAMETER,
    IDEMPOTENCY_KEY_REUSED_RESPONSE,
    USER_ID_PARAMETER,
    problem_response,
)
from common.api.views import CallerAPIView
from common.idempotency.api import respond_idempotently
from common.idempotency.services import StoredResponse
from common.observability.http import request_id_of
from orders_project.orders import selectors, services
from orders_project.orders.pagination import MAX_LIMIT, PageQuerySerializer, next_link
from orders_project.orders.serializers import OrderCreateSerializer, OrderSerializer

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


def order_location(order_id) -> str:
    return f"/orders/{order_id}"


class OrderListCreateView(CallerAPIView):
    @extend_schema(
        operation_id="order_create",
        summary="Place an order; it is paid asynchronously",
        parameters=[USER_ID_PARAMETER, IDEMPOTENCY_KEY_PARAMETER],
        request=OrderCreateSerializer,
        responses={
            201: OpenApiResponse(
                OrderSerializer,
                description="Created, status NEW. `Location` names the order; poll it for "
                "FINISHED or CANCELLED.",
            ),
            400: BAD_REQUEST_RESPONSE,
            422: IDEMPOTENCY_KEY_REUSED_RESPONSE,
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
                body=OrderSerializer(order).data,
                headers={"Location": order_location(order.id)},
            )

        return respond_idempotently(request, user_id=self.user_id, payload=data, perform=create)

    @extend_schema(
        operation_id="order_list",
        summary="The caller's orders, newest first",
        description=(
            'A plain array. When more orders follow, a `Link: <...>; rel="next"` header '
            "gives the URL of the next page (its `cursor` is opaque)."
        ),
        parameters=[
            USER_ID_PARAMETER,
            OpenApiParameter("limit", int, description=f"Page size, 1-{MAX_LIMIT} (50)."),
            OpenApiParameter("cursor", str, description="From the previous page's Link."),
        ],
        responses={200: OrderSerializer(many=True), 400: BAD_REQUEST_RESPONSE},
        examples=[
            OpenApiExample("orders", value=[CANCELLED_EXAMPLE, ORDER_EXAMPLE], response_only=True)
        ],
    )
    def get(self, request):
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        # One more than asked tells whether a next page exists, without a COUNT.
        orders = selectors.orders_page(
            user_id=self.user_id, limit=limit + 1, after=query.validated_data.get("cursor")
        )
        page, more = orders[:limit], len(orders) > limit
        headers = {"Link": next_link(request, limit=limit, last=page[-1])} if more else {}
        return Response(OrderSerializer(page, many=True).data, headers=headers)


class OrderDetailView(CallerAPIView):
    @extend_schema(
        operation_id="order_get",
        summary="One of the caller's orders",
        parameters=[USER_ID_PARAMETER],
        responses={
            200: OrderSerializer,
            400: BAD_REQUEST_RESPONSE,
            404: problem_response("Not Found", 404, "order-not-found", "No order 3f1e2d4c-..."),
        },
        examples=[OpenApiExample("cancelled", value=CANCELLED_EXAMPLE, response_only=True)],
    )
    def get(self, request, order_id: str):
        order = selectors.order_get(user_id=self.user_id, order_id=order_id)
        return Response(OrderSerializer(order).data)
