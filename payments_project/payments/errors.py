from common.errors import ConflictError, NotFoundError, UnprocessableError


class AccountAlreadyExists(ConflictError):
    code = "account-exists"
    title = "Account already exists"


class AccountNotFound(NotFoundError):
    code = "account-not-found"
    title = "Account not found"


class BalanceLimitExceeded(UnprocessableError):
    code = "balance-limit-exceeded"
    title = "Balance limit exceeded"
