"""The GPU worker: train jobs in, proven LoRA/QLoRA adapters out."""
