from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response

from common.api.schema import (
    IDEMPOTENCY_KEY_PARAMETER,
    USER_ID_PARAMETER,
    ProblemDoc,
    problem_responses,
)
from common.api.views import CallerAPIView
from common.idempotency.api import IDEMPOTENCY_PROBLEMS, replayed_header, respond_idempotently
from common.idempotency.services import StoredResponse
from payments_project.payments import selectors, services
from payments_project.payments.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    BalanceLimitExceeded,
)
from payments_project.payments.serializers import (
    AccountCreateSerializer,
    AccountSerializer,
    BalanceSerializer,
    DepositSerializer,
    balance_representation,
)

NO_ACCOUNT = ProblemDoc(
    404,
    AccountNotFound.code,
    "the caller has no account (open it with POST /accounts)",
    "User u-1 has no account.",
    title=AccountNotFound.title,
)
ACCOUNT_EXISTS = ProblemDoc(
    409,
    AccountAlreadyExists.code,
    "the caller already has an account",
    "User u-1 already has an account.",
    title=AccountAlreadyExists.title,
)
BALANCE_LIMIT = ProblemDoc(
    422,
    BalanceLimitExceeded.code,
    "the balance would exceed 9999999999999999.99",
    "A balance cannot exceed 9999999999999999.99.",
    title=BalanceLimitExceeded.title,
)
# POST /accounts takes no body or an empty object: nothing else.
EMPTY_OBJECT = {"type": "object", "additionalProperties": False}
BALANCE_EXAMPLE = OpenApiExample(
    "balance", value={"user_id": "u-1", "balance": "100.00"}, response_only=True
)


class AccountCreateView(CallerAPIView):
    @extend_schema(
        operation_id="account_create",
        summary="Open the caller's account",
        description=(
            "Opens the caller's account with a balance of 0.00. No body, or an empty JSON "
            "object: the user comes from X-User-Id, and any field (a balance, say) is "
            "refused. A second call is a 409."
        ),
        parameters=[USER_ID_PARAMETER],
        request={"application/json": EMPTY_OBJECT},
        responses={201: AccountSerializer, **problem_responses(ACCOUNT_EXISTS, body=True)},
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
        # No body reads as {}; any other JSON that is not an object ([], 0, null) is a 400.
        AccountCreateSerializer(data=request.data).is_valid(raise_exception=True)
        account = services.account_create(user_id=self.user_id)
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)


class DepositView(CallerAPIView):
    @extend_schema(
        operation_id="account_deposit",
        summary="Add money to the caller's balance",
        description=(
            "Adds the amount to the caller's balance and answers with the new balance. "
            "Send an `Idempotency-Key` to make a retry safe: the same key and amount again "
            "returns the first answer and deposits nothing more."
        ),
        parameters=[USER_ID_PARAMETER, IDEMPOTENCY_KEY_PARAMETER, replayed_header(200)],
        request=DepositSerializer,
        responses={
            200: BalanceSerializer,
            **problem_responses(NO_ACCOUNT, *IDEMPOTENCY_PROBLEMS, BALANCE_LIMIT, body=True),
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
            return StoredResponse(status=200, body=balance_representation(account))

        return respond_idempotently(
            request, user_id=self.user_id, payload={"amount": amount}, perform=deposit
        )


class BalanceView(CallerAPIView):
    @extend_schema(
        operation_id="account_balance",
        summary="The caller's balance",
        description="The caller's current balance. HEAD answers as GET does, without the body.",
        parameters=[USER_ID_PARAMETER],
        responses={200: BalanceSerializer, **problem_responses(NO_ACCOUNT)},
        examples=[BALANCE_EXAMPLE],
    )
    def get(self, request):
        account = selectors.account_get(user_id=self.user_id)
        return Response(balance_representation(account))
