"""Outbound webhooks (Standard Webhooks 1.0): subscriptions and their secrets, the safety of
their URLs, signing, and the worker that delivers the log's events to them."""
