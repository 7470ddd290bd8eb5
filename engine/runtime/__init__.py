"""What moves instances: scheduling decisions (pure) and the services that apply them."""
