"""The one Trainer loop. Algorithms supply a loss and say what data they need; the loop owns devices,
precision, accumulation, data parallelism, checkpoints, resume, metrics and progress."""
