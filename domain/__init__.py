"""The CRM's domain: Lead and Contact aggregates, their events, value types and rules."""
