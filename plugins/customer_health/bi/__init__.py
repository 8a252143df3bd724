"""Dashboards in a BI tool over the published schema."""
