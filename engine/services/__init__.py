"""Services for what is not an instance's movement: template versions."""
