"""Self-supervised pre-training that produces point-transformer checkpoints (Point-MAE)."""
