"""Telling people what happened: health band drops, failed gates, failed tasks."""
