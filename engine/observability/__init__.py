"""What operators watch: Prometheus metrics, health checks, and the figures of the dashboard and API."""
