"""app/core"""
