"""Base view of every endpoint that acts for a user."""

from rest_framework import serializers
from rest_framework.views import APIView

from common.api.headers import caller_user_id
from common.api.query import validated_query


class CallerAPIView(APIView):
    """An APIView whose caller is named by X-User-Id; `self.user_id` is set before the handler.

    The header is checked before the body is parsed, so a request without a valid caller is a
    400 whatever else is wrong with it. Then the query string: `query_serializers` names the
    serializer of each method's parameters ("get": ...; HEAD reads GET's); `self.query` holds
    them validated. A method without one takes no parameters (common/api/query.py).
    """

    query_serializers: dict[str, type[serializers.Serializer]] = {}
    user_id: str
    query: dict

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.user_id = caller_user_id(request)
        method = "get" if request.method == "HEAD" else request.method.lower()
        self.query = validated_query(request.query_params, self.query_serializers.get(method))
