"""mimamori: the application (settings, registry, probes, classifier, service, CLI)."""
