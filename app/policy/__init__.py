"""app/policy"""
