"""The CRM's active half: policies that react to events and timers that fire when due, each
acting by commands whose events name their cause, exactly once per trigger."""
