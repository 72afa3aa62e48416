"""libdib's tests: unit (domain on memory), contract (every adapter alike), integration (SQL), e2e (HTTP)."""
