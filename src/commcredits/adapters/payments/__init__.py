"""Payment processors behind the `PaymentGateway` port."""
