"""Training: dataset, model, training loop, export, and the flow the training container runs."""
