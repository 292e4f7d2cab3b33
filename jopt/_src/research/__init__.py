"""Research optimizers optax lacks: SOAP, Shampoo, PSGD Kron."""
