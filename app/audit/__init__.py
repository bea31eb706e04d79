"""app/audit"""
