"""Payments' internal API: for the other services, never for clients.

The gateway does not route it (gateway_project/gateway/routes.py lists the public endpoints
only), and it takes the shared INTERNAL_API_TOKEN like every service endpoint.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.internal import FromGateway
from common.api.schema import problem_responses
from payments_project.payments import selectors
from payments_project.payments.serializers import (
    OrderPaymentSerializer,
    OrderPaymentsPageSerializer,
    OrderPaymentsQuerySerializer,
)


class OrderPaymentsView(APIView):
    # FromGateway checks the internal token; here it is the reconciliation in Orders that
    # holds it. Named explicitly: this endpoint must never be open without the token.
    permission_classes = [FromGateway]

    @extend_schema(
        operation_id="internal_order_payments",
        summary="Internal: every order id's payment record and charges, by order id",
        tags=["internal"],
        parameters=[OrderPaymentsQuerySerializer],
        responses={200: OrderPaymentsPageSerializer, **problem_responses()},
    )
    def get(self, request):
        query = OrderPaymentsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        page = selectors.order_payments_page(after=query.validated_data["after"], limit=limit)
        return Response(
            {
                "results": OrderPaymentSerializer(page, many=True).data,
                "next": page[-1].order_id if len(page) == limit else None,
            }
        )
