"""Request and response bodies (msgspec Structs), one module per area; never domain objects on the wire."""
