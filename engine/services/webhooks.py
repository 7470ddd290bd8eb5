"""Webhooks: create one with a fresh secret, rotate the secret, retry failed deliveries, deliver due ones."""

from __future__ import annotations

from engine.webhooks import (
    webhook_deliveries_retry,
    webhook_save_new,
    webhook_secret_rotate,
    webhooks_deliver,
)

__all__ = ["webhook_deliveries_retry", "webhook_save_new", "webhook_secret_rotate", "webhooks_deliver"]
