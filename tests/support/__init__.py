"""Shared helpers of the test layers: tool loading and the multi-host stack."""
