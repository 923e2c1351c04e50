"""Speak VTEX: typed models and the async OMS client. Imports nothing else of orderbridge."""
