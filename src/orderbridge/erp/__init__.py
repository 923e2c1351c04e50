"""Speak ERP: the adapter port and its adapters."""
