"""Customer notifications: Liquid templates per event and language, and the senders (e-mail
over SMTP, SMS through a provider)."""
