"""app/mime"""
