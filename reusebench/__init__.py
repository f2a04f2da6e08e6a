"""reusebench: metrics of trained models for reuse."""
