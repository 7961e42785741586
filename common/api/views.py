"""Base view of every endpoint that acts for a user."""

from rest_framework.views import APIView

from common.api.headers import caller_user_id


class CallerAPIView(APIView):
    """An APIView whose caller is named by X-User-Id; `self.user_id` is set before the handler.

    The header is checked before the body is parsed, so a request without a valid caller is a
    400 whatever else is wrong with it.
    """

    user_id: str

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.user_id = caller_user_id(request)
