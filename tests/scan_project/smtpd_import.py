import smtpd  # noqa: F401
