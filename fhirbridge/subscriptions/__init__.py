"""R4 rest-hook Subscriptions: matching writes queue a notification in the database, in the same
transaction as the write; a background worker delivers the queue with retries and backoff, so a
restart loses nothing and a partner that is down gets its notifications when it comes back. Each
Subscription records its owner (the caller who set it up), and a notification goes out only if that owner
may read what it is about (owner.py)."""

from fhirbridge.subscriptions.delivery import DeliveryWorker
from fhirbridge.subscriptions.trigger import SubscriptionTrigger

__all__ = ["DeliveryWorker", "SubscriptionTrigger"]
