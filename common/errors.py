"""Errors that service functions raise for a broken business rule.

Each carries the HTTP status and the stable problem code it is reported with, so views stay
thin: the API exception handler turns any ApplicationError into a problem-details response.
"""


class ApplicationError(Exception):
    status_code = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None):
        self.detail = detail or self.title
        super().__init__(self.detail)


class NotFoundError(ApplicationError):
    status_code = 404
    code = "not-found"
    title = "Not found"


class ConflictError(ApplicationError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class UnprocessableError(ApplicationError):
    status_code = 422
    code = "unprocessable"
    title = "Unprocessable request"
