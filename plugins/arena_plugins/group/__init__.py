"""Group policy gradients: GRPO and RLOO (several samples per prompt, advantages relative to the group)."""
