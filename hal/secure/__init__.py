"""Device identity: the ATECC608 secure element and a software key store."""
