"""app/discovery"""
