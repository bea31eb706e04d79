"""app/mail/smtp"""
