"""modalprompt.graph"""
