"""app/mail"""
