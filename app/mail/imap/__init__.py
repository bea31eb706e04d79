"""app/mail/imap"""
