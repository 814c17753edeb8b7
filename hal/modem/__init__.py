"""LTE modems over AT commands (Quectel EC25/EG25, SIMCom SIM7600)."""
