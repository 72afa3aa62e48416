"""The business core: entities, rules and the ports they need. Plain Python only."""
