"""Merchant-defined automation: when (an event or a schedule) -> if (conditions over the order)
-> then (actions, each an ordinary command authored by the rule)."""
