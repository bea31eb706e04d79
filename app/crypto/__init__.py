"""app/crypto"""
