"""Jinja2 templates shipped inside the wheel: owner/{ja,en}, vendor, operator, report."""
