from common.errors import NotFoundError


class OrderNotFound(NotFoundError):
    code = "order-not-found"
    title = "Order not found"
