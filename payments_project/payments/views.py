from drf_spectacular.utils import OpenApiExample, extend_schema
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
from payments_project.payments import selectors, services
from payments_project.payments.serializers import (
    AccountCreateSerializer,
    AccountSerializer,
    BalanceSerializer,
    DepositSerializer,
)

NO_ACCOUNT = problem_response("Not Found", 404, "account-not-found", "User u-1 has no account.")
BALANCE_EXAMPLE = OpenApiExample(
    "balance", value={"user_id": "u-1", "balance": "100.00"}, response_only=True
)


class AccountCreateView(CallerAPIView):
    @extend_schema(
        operation_id="account_create",
        summary="Open the caller's account",
        parameters=[USER_ID_PARAMETER],
        request=AccountCreateSerializer,
        responses={
            201: AccountSerializer,
            400: BAD_REQUEST_RESPONSE,
            409: problem_response(
                "Conflict", 409, "account-exists", "User u-1 already has an account."
            ),
        },
        examples=[
            OpenApiExample(
                "created",
                value={
                    "user_id": "u-1",
                    "balance": "0.00",
                    "created_at": "2026-11-26T12:00:00Z",
                    "updated_at": "2026-11-26T12:00:00Z",
                },
                response_only=True,
                status_codes=["201"],
            )
        ],
    )
    def post(self, request):
        AccountCreateSerializer(data=request.data or {}).is_valid(raise_exception=True)
        account = services.account_create(user_id=self.user_id)
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)


class DepositView(CallerAPIView):
    @extend_schema(
        operation_id="account_deposit",
        summary="Add money to the caller's balance",
        parameters=[USER_ID_PARAMETER, IDEMPOTENCY_KEY_PARAMETER],
        request=DepositSerializer,
        responses={
            200: BalanceSerializer,
            400: BAD_REQUEST_RESPONSE,
            404: NO_ACCOUNT,
            422: IDEMPOTENCY_KEY_REUSED_RESPONSE,
        },
        examples=[
            OpenApiExample("deposit", value={"amount": "100.00"}, request_only=True),
            BALANCE_EXAMPLE,
        ],
    )
    def post(self, request):
        serializer = DepositSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        amount = serializer.validated_data["amount"]

        def deposit(key: str | None) -> StoredResponse:
            account = services.account_deposit(user_id=self.user_id, amount=amount, reference=key)
            return StoredResponse(status=200, body=BalanceSerializer(account).data)

        return respond_idempotently(
            request, user_id=self.user_id, payload={"amount": amount}, perform=deposit
        )


class BalanceView(CallerAPIView):
    @extend_schema(
        operation_id="account_balance",
        summary="The caller's balance",
        parameters=[USER_ID_PARAMETER],
        responses={200: BalanceSerializer, 400: BAD_REQUEST_RESPONSE, 404: NO_ACCOUNT},
        examples=[BALANCE_EXAMPLE],
    )
    def get(self, request):
        account = selectors.account_get(user_id=self.user_id)
        return Response(BalanceSerializer(account).data)
