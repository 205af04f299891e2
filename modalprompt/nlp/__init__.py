"""modalprompt.nlp"""
