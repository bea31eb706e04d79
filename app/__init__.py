"""Salus: a desktop secure email client for healthcare."""
