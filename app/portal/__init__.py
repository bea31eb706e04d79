"""app/portal"""
